/**
 * An X.509-SVID as the SPIFFE Workload API sends it (ASN.1 DER: a certificate
 * chain, a PKCS#8 key, a CA bundle) turned into the PEM material the TLS stack
 * takes, checked as PEM files are (tls-material.ts), and then as an X.509-SVID:
 * in date, the leaf no CA, the chain signed up to the bundle.
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
  /** When the first certificate of its chain (the leaf, or an intermediate sent with it) stops being valid: past it, peers refuse the chain. */
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

const parseDerCertificates = (der: Uint8Array): X509Certificate[] => splitDerCertificates(der).map((cert) => new X509Certificate(cert));

const toPem = (certificates: readonly X509Certificate[]): Buffer => Buffer.from(certificates.map((cert) => cert.toString()).join(""));

/** Concatenated DER certificates as concatenated PEM, each one parsed on the way. */
export function derCertificatesToPem(der: Uint8Array): Buffer {
  return toPem(parseDerCertificates(der));
}

/**
 * A client whose clock runs a little behind the agent's sees a certificate SPIRE has just signed start in the future;
 * this much is not held against it.
 */
const SVID_CLOCK_SKEW_MS = 60_000;

/** Why `cert` is not valid at `now` (ms), or undefined when it is. */
function outsideValidity(cert: X509Certificate, now: number): string | undefined {
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (notAfter.getTime() <= now) return `expired at ${notAfter.toISOString()}`;
  if (notBefore.getTime() > now + SVID_CLOCK_SKEW_MS) return `is not valid before ${notBefore.toISOString()}`;
  return undefined;
}

const signs = (issuer: X509Certificate, subject: X509Certificate): boolean => subject.checkIssued(issuer) && subject.verify(issuer.publicKey);

/**
 * Why the X.509-SVID `chain` (leaf first, then intermediates) could not serve, or undefined: every certificate of it
 * valid at `now`, the leaf no CA and the intermediates CAs (X509-SVID §4.1), each signed by the next and the last by a
 * valid certificate of `bundle` (§5). Peers would refuse any of these at the handshake; the agent is not trusted to
 * have sent a set they accept. Signatures are checked at each link, so the chain's names alone prove nothing.
 */
export function svidChainProblem(chain: readonly X509Certificate[], bundle: readonly X509Certificate[], now: number): string | undefined {
  const name = (i: number): string => (i === 0 ? "the leaf" : `intermediate ${i}`);
  for (const [i, cert] of chain.entries()) {
    const invalid = outsideValidity(cert, now);
    if (invalid) return `${name(i)} ${invalid}`;
    if (i === 0 && cert.ca) return "the leaf is a CA certificate, which an X.509-SVID must not be (X509-SVID §4.1)";
    if (i > 0 && !cert.ca) return `${name(i)} is not a CA certificate (X509-SVID §4.1)`;
    const issuer = chain[i + 1];
    if (issuer && !signs(issuer, cert)) return `${name(i)} is not signed by ${name(i + 1)}`;
  }
  const last = chain.length - 1;
  const top = chain[last];
  if (top && !bundle.some((root) => outsideValidity(root, now) === undefined && signs(root, top))) {
    return `${name(last)} is not signed by any valid certificate of the bundle`;
  }
  return undefined;
}

/**
 * The default SVID of a Workload API response as TLS material, checked as files are, then as an X.509-SVID at `now`
 * (ms; {@link svidChainProblem}), and the SPIFFE ID the response gives checked against the certificate's. Throws,
 * naming `section` and the field, never printing the key.
 */
export function svidMaterial(svid: X509SVID__Output, section: string, now: number = Date.now()): X509Svid {
  const convert = <T>(field: "x509_svid" | "x509_svid_key" | "bundle", how: () => T): T => {
    try {
      return how();
    } catch (err) {
      throw new Error(`${section}: ${field} is not usable (${(err as Error).message})`, { cause: err });
    }
  };
  const chain = convert("x509_svid", () => parseDerCertificates(svid.x509_svid));
  const bundle = convert("bundle", () => parseDerCertificates(svid.bundle));
  const material: TlsMaterial = {
    cert: toPem(chain),
    key: convert("x509_svid_key", () =>
      Buffer.from(createPrivateKey({ key: svid.x509_svid_key, format: "der", type: "pkcs8" }).export({ format: "pem", type: "pkcs8" })),
    ),
    ca: toPem(bundle),
  };
  checkTlsMaterial(material, section, { cert: "x509_svid", key: "x509_svid_key" });
  // checkTlsMaterial found a certificate in x509_svid, so the chain has a leaf.
  const leaf = chain[0] as X509Certificate;
  const problem = svidChainProblem(chain, bundle, now);
  if (problem) throw new Error(`${section}: x509_svid is not usable (${problem})`);
  const named = spiffeIdOf({ subjectaltname: leaf.subjectAltName ?? "", ca: leaf.ca });
  // Peers check this certificate, not the response's word: the two must agree, or allowed_peers lists would mislead.
  if (named === undefined || named !== svid.spiffe_id) {
    throw new Error(`${section}: x509_svid names ${named ?? "no single SPIFFE ID"}, but the response says ${svid.spiffe_id || "nothing"}`);
  }
  // A peer checks the whole chain: an intermediate that expires first ends the SVID's use, whatever the leaf says.
  const notAfter = new Date(Math.min(...chain.map((cert) => new Date(cert.validTo).getTime())));
  return { spiffeId: named, material, notAfter };
}
