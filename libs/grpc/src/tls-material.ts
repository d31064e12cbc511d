/**
 * One set of TLS material and the one check every source of it passes: PEM
 * files (tls-files.ts) and X.509-SVIDs from the SPIFFE Workload API
 * (workload-api.ts) refuse the same broken sets with the same messages.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { createSecureContext } from "node:tls";

/** One consistent set of TLS material: PEM certificate chain (leaf first), PEM private key, PEM CA bundle. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** What a reload did: a new set applied, or a set refused (and why; the one in use stays). */
export type ReloadListener = (event: { applied: boolean; reason?: string }) => void;

/** What a source calls the certificate and the key, for messages: `cert_file`/`key_file`, `x509_svid`/`x509_svid_key`. */
export interface MaterialFields {
  cert: string;
  key: string;
}

const FILE_FIELDS: MaterialFields = { cert: "cert_file", key: "key_file" };

/**
 * Throws, naming `section`, when the set cannot serve TLS: a bad PEM, an empty CA bundle, a key that is not the
 * certificate's. The message never holds the key.
 */
export function checkTlsMaterial(material: TlsMaterial, section: string, fields: MaterialFields = FILE_FIELDS): void {
  let matches: boolean;
  try {
    // A bad PEM, or a key that is not the certificate's, would otherwise only show at the first handshake.
    createSecureContext(material);
    // A bundle with no certificate in it is accepted by OpenSSL and would trust nothing.
    new X509Certificate(material.ca);
    matches = new X509Certificate(material.cert).checkPrivateKey(createPrivateKey(material.key));
  } catch (err) {
    throw new Error(`${section}: the certificate, key or CA bundle is not usable (${(err as Error).message})`, { cause: err });
  }
  if (!matches) throw new Error(`${section}: the certificate, key or CA bundle is not usable (${fields.key} is not the key of ${fields.cert})`);
}

const sameMaterial = (a: TlsMaterial, b: TlsMaterial): boolean => a.cert.equals(b.cert) && a.key.equals(b.key) && a.ca.equals(b.ca);

/**
 * The rotation rule of every source: a candidate that fails its checks (`take` throws) is refused and reported, so the
 * set in use stays, as for a rotation caught half written; one that is byte for byte the set in use is no rotation.
 * Returns the candidate to apply, or undefined.
 */
export function nextRotation<T>(
  take: () => T,
  materialOf: (candidate: T) => TlsMaterial,
  current: TlsMaterial | undefined,
  onReload: ReloadListener,
): T | undefined {
  let next: T;
  try {
    next = take();
  } catch (err) {
    onReload({ applied: false, reason: (err as Error).message });
    return undefined;
  }
  return current && sameMaterial(current, materialOf(next)) ? undefined : next;
}
