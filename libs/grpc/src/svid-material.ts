/**
 * An X.509-SVID as the SPIFFE Workload API sends it (ASN.1 DER: a certificate
 * chain, a PKCS#8 key, a CA bundle) turned into the PEM material the TLS stack
 * takes, and checked as PEM files are (tls-material.ts).
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import type { X509SVID__Output } from "@sts/proto";
import { checkTlsMaterial } from "./tls-material.js";
import type { TlsMaterial } from "./tls-material.js";
import { spiffeIdOf } from "./tls.js";

/** An X.509-SVID ready for TLS. */
export interface X509Svid {
  /** The SPIFFE ID its certificate names. */
  spiffeId: string;
  material: TlsMaterial;
  /** When its certificate stops being valid: past it, peers refuse it. */
  notAfter: Date;
}

const SEQUENCE = 0x30;

/**
 * Splits concatenated DER certificates (an SVID's chain, a bundle) at the end of each top-level ASN.1 SEQUENCE.
 * Throws on anything else: a stray byte, an indefinite or truncated length.
 */
export function splitDerCertificates(der: Uint8Array): Buffer[] {
  const bytes = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const out: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes[at] !== SEQUENCE) throw new Error(`expected a SEQUENCE at byte ${at}`);
    const first = bytes[at + 1];
    if (first === undefined) throw new Error(`truncated length at byte ${at + 1}`);
    let length = first;
    let header = 2;
    if (first & 0x80) {
      // Long form: the low bits count the length bytes. 0x80 (indefinite) is BER, never DER; four bytes (4 GiB) is more than any certificate.
      const count = first & 0x7f;
      if (count === 0 || count > 4) throw new Error(`unsupported length encoding at byte ${at + 1}`);
      if (at + 2 + count > bytes.length) throw new Error(`truncated length at byte ${at + 1}`);
      length = bytes.readUIntBE(at + 2, count);
      header += count;
    }
    const end = at + header + length;
    if (end > bytes.length) throw new Error(`truncated certificate at byte ${at}`);
    out.push(bytes.subarray(at, end));
    at = end;
  }
  return out;
}

/** Concatenated DER certificates as concatenated PEM, each one parsed on the way. */
export function derCertificatesToPem(der: Uint8Array): Buffer {
  return Buffer.from(
    splitDerCertificates(der)
      .map((cert) => new X509Certificate(cert).toString())
      .join(""),
  );
}

/**
 * The default SVID of a Workload API response as TLS material, checked as files are, and the SPIFFE ID the response
 * gives checked against the certificate's. Throws, naming `section` and the field, never printing the key.
 */
export function svidMaterial(svid: X509SVID__Output, section: string): X509Svid {
  const convert = <T>(field: "x509_svid" | "x509_svid_key" | "bundle", how: () => T): T => {
    try {
      return how();
    } catch (err) {
      throw new Error(`${section}: ${field} is not usable (${(err as Error).message})`, { cause: err });
    }
  };
  const material: TlsMaterial = {
    cert: convert("x509_svid", () => derCertificatesToPem(svid.x509_svid)),
    key: convert("x509_svid_key", () =>
      Buffer.from(createPrivateKey({ key: svid.x509_svid_key, format: "der", type: "pkcs8" }).export({ format: "pem", type: "pkcs8" })),
    ),
    ca: convert("bundle", () => derCertificatesToPem(svid.bundle)),
  };
  checkTlsMaterial(material, section, { cert: "x509_svid", key: "x509_svid_key" });
  const leaf = new X509Certificate(material.cert);
  const named = spiffeIdOf({ subjectaltname: leaf.subjectAltName ?? "" });
  // Peers check this certificate, not the response's word: the two must agree, or allowed_peers lists would mislead.
  if (named === undefined || named !== svid.spiffe_id) {
    throw new Error(`${section}: x509_svid names ${named ?? "no single SPIFFE ID"}, but the response says ${svid.spiffe_id || "nothing"}`);
  }
  return { spiffeId: named, material, notAfter: new Date(leaf.validTo) };
}
