/**
 * PEM files of a TLS identity, read, checked (tls-material.ts) and re-read as
 * they rotate. Shared by `grpc_tls` (the stack's gRPC ports) and the sidecars'
 * mutual TLS, so that both refuse the same broken sets with the same messages.
 */
import { readFileSync } from "node:fs";
import { checkTlsMaterial, nextRotation } from "./tls-material.js";
import type { ReloadListener, TlsMaterial } from "./tls-material.js";

/** The three files of one TLS identity and the CAs it trusts. */
export interface TlsFiles {
  cert_file: string;
  key_file: string;
  ca_file: string;
}

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
  checkTlsMaterial(material, section);
  return material;
}

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
    const next = nextRotation(
      () => readTlsFiles(files, section),
      (material) => material,
      current,
      onReload,
    );
    if (!next) return;
    current = next;
    onChange(next);
    onReload({ applied: true });
  }, options.intervalMs).unref();
  return () => clearInterval(timer);
}
