/**
 * PEM files of a TLS identity, read, checked and re-read as they rotate. Shared
 * by `grpc_tls` (the stack's gRPC ports) and the sidecars' mutual TLS, so that
 * both refuse the same broken sets with the same messages.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";

/** The three files of one TLS identity and the CAs it trusts. */
export interface TlsFiles {
  cert_file: string;
  key_file: string;
  ca_file: string;
}

/** One consistent set of TLS material, as read from {@link TlsFiles}. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** What a reload did: a new set applied, or a set refused (and why; the one in use stays). */
export type ReloadListener = (event: { applied: boolean; reason?: string }) => void;

/**
 * Reads and checks the three files; a missing or unusable file fails naming `section` and the field, never printing
 * the key. `section` is where the files are configured (`grpc_tls`, `sidecars.svc-a.tls`).
 */
export function readTlsFiles(files: TlsFiles, section: string): TlsMaterial {
  const read = (field: keyof TlsFiles): Buffer => {
    try {
      return readFileSync(files[field]);
    } catch (err) {
      throw new Error(`${section}.${field}: cannot read ${files[field]} (${(err as NodeJS.ErrnoException).code ?? "error"})`, { cause: err });
    }
  };
  const material = { cert: read("cert_file"), key: read("key_file"), ca: read("ca_file") };
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
  if (!matches) throw new Error(`${section}: the certificate, key or CA bundle is not usable (key_file is not the key of cert_file)`);
  return material;
}

const sameMaterial = (a: TlsMaterial, b: TlsMaterial): boolean => a.cert.equals(b.cert) && a.key.equals(b.key) && a.ca.equals(b.ca);

/** Options of {@link watchTlsFiles}. */
export interface WatchTlsOptions {
  /** Where the files are configured, for messages. */
  section: string;
  /** Milliseconds between reads. */
  intervalMs: number;
  /** The set in use now: only a set that differs from it is handed on. */
  current: TlsMaterial;
  /** Takes a new set that passed the checks. */
  onChange: (material: TlsMaterial) => void;
  onReload?: ReloadListener;
}

/**
 * Reads the files every interval and hands on each new set that passes {@link readTlsFiles}'s checks. A rotation
 * caught half written (a new certificate beside the old key) is refused until it is complete, so connections never go
 * without an identity. The timer does not keep the process alive; the function returned stops it.
 */
export function watchTlsFiles(files: TlsFiles, options: WatchTlsOptions): () => void {
  const { section, onChange, onReload = () => undefined } = options;
  let current = options.current;
  const timer = setInterval(() => {
    let next: TlsMaterial;
    try {
      next = readTlsFiles(files, section);
    } catch (err) {
      onReload({ applied: false, reason: (err as Error).message });
      return;
    }
    if (sameMaterial(next, current)) return;
    current = next;
    onChange(next);
    onReload({ applied: true });
  }, options.intervalMs).unref();
  return () => clearInterval(timer);
}
