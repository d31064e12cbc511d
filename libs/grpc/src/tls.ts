/**
 * Transport security of the stack's gRPC ports and of the calls between the
 * services: TLS from PEM files, mutual unless turned off, or plaintext when
 * no files are configured (inside a mesh that supplies mTLS itself).
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "@sts/telemetry";

/** The `grpc_tls` section of the config file. */
export interface GrpcTlsFiles {
  cert_file: string;
  key_file: string;
  ca_file: string;
  require_client_cert: boolean;
  /** SPIFFE ID each service must present, by service name; a service named here is checked by it instead of by host name. */
  spiffe_ids?: Readonly<Partial<Record<string, string>>>;
  /** Seconds between re-reads of the files (certificates rotate, SVIDs hourly); absent: read once. */
  reload_interval?: number;
}

/** What a service listens with and dials with. */
export interface GrpcCredentials {
  server: grpc.ServerCredentials;
  /** Credentials to dial `service`: its SPIFFE ID is required when one is configured, else the dialled host name. */
  channelTo(service?: string): grpc.ChannelCredentials;
}

/** The one URI SAN of an X.509-SVID, or undefined when there is not exactly one. */
export function spiffeIdOf(peer: PeerCertificate): string | undefined {
  const uris = (peer.subjectaltname ?? "")
    .split(", ")
    .filter((entry) => entry.startsWith("URI:"))
    .map((entry) => entry.slice("URI:".length));
  return uris.length === 1 ? uris[0] : undefined;
}

/** Verifies that the server presents exactly this SPIFFE ID (the chain to ca_file is verified by TLS itself). */
function requireSpiffeId(expected: string): (host: string, peer: PeerCertificate) => Error | undefined {
  return (_host, peer) => {
    const presented = spiffeIdOf(peer);
    return presented === expected ? undefined : new Error(`server presented ${presented ?? "no single SPIFFE ID"}, expected ${expected}`);
  };
}

/** One consistent set of TLS material. */
interface Material {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** Reads and checks the three files; a missing or unusable file fails naming its field, never printing the key. */
function readMaterial(tls: GrpcTlsFiles): Material {
  const read = (field: "cert_file" | "key_file" | "ca_file"): Buffer => {
    try {
      return readFileSync(tls[field]);
    } catch (err) {
      throw new Error(`grpc_tls.${field}: cannot read ${tls[field]} (${(err as NodeJS.ErrnoException).code ?? "error"})`, { cause: err });
    }
  };
  const material = { cert: read("cert_file"), key: read("key_file"), ca: read("ca_file") };
  let matches: boolean;
  try {
    // grpc-js would only find a bad PEM, or a key that is not the certificate's, at the first handshake.
    createSecureContext(material);
    // A bundle with no certificate in it is accepted by OpenSSL and would trust nothing.
    new X509Certificate(material.ca);
    matches = new X509Certificate(material.cert).checkPrivateKey(createPrivateKey(material.key));
  } catch (err) {
    throw new Error(`grpc_tls: the certificate, key or CA bundle is not usable (${(err as Error).message})`, { cause: err });
  }
  if (!matches) throw new Error("grpc_tls: the certificate, key or CA bundle is not usable (key_file is not the key of cert_file)");
  return material;
}

const sameMaterial = (a: Material, b: Material): boolean => a.cert.equals(b.cert) && a.key.equals(b.key) && a.ca.equals(b.ca);

/**
 * Feeds grpc-js the files as they change: every interval they are read and
 * checked again, and only a set that passes replaces the one in use. A
 * rotation caught half written (a new certificate beside the old key) is
 * skipped until it is complete, so connections never go without an identity.
 * The files are polled only while grpc-js holds a listener: a server or
 * channel that shuts down leaves no timer behind.
 */
class ReloadingMaterial implements grpc.experimental.CertificateProvider {
  #current: Material;
  #timer: NodeJS.Timeout | undefined;
  readonly #ca = new Set<grpc.experimental.CaCertificateUpdateListener>();
  readonly #identity = new Set<grpc.experimental.IdentityCertificateUpdateListener>();

  constructor(
    private readonly tls: GrpcTlsFiles,
    initial: Material,
    private readonly intervalMs: number,
    private readonly onReload: ReloadListener,
  ) {
    this.#current = initial;
  }

  #reload(): void {
    let next: Material;
    try {
      next = readMaterial(this.tls);
    } catch (err) {
      this.onReload({ applied: false, reason: (err as Error).message });
      return;
    }
    if (sameMaterial(next, this.#current)) return;
    this.#current = next;
    for (const l of this.#ca) l({ caCertificate: next.ca });
    for (const l of this.#identity) l({ certificate: next.cert, privateKey: next.key });
    this.onReload({ applied: true });
  }

  /** Polls while anyone listens, stops when the last listener goes. */
  #watch(): void {
    const listening = this.#ca.size + this.#identity.size > 0;
    if (listening && !this.#timer) this.#timer = setInterval(() => this.#reload(), this.intervalMs).unref();
    if (!listening && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.#ca.add(listener);
    this.#watch();
    process.nextTick(listener, { caCertificate: this.#current.ca });
  }
  removeCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.#ca.delete(listener);
    this.#watch();
  }
  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.#identity.add(listener);
    this.#watch();
    process.nextTick(listener, { certificate: this.#current.cert, privateKey: this.#current.key });
  }
  removeIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.#identity.delete(listener);
    this.#watch();
  }
}

/** What a reload did: a new set applied, or a set refused (and why; the one in use stays). */
export type ReloadListener = (event: { applied: boolean; reason?: string }) => void;

/** Logs reloads: an applied rotation at info, a refused one (the old set stays in use) at warn. */
export function logReloads(logger: Logger): ReloadListener {
  return ({ applied, reason }) =>
    applied
      ? logger.info("grpc_tls: rotated certificate files applied")
      : logger.warn({ reason }, "grpc_tls: files refused on reload; the certificate in use stays");
}

/** Reads the TLS files at start (failing there, naming the field) and, with reload_interval, again as they rotate. */
export function grpcCredentials(tls: GrpcTlsFiles | undefined, onReload: ReloadListener = () => undefined): GrpcCredentials {
  if (!tls) return { server: grpc.ServerCredentials.createInsecure(), channelTo: () => grpc.credentials.createInsecure() };
  const material = readMaterial(tls);
  const verifyFor = (service: string | undefined): grpc.VerifyOptions => {
    const expected = service === undefined ? undefined : tls.spiffe_ids?.[service];
    return expected ? { checkServerIdentity: requireSpiffeId(expected) } : {};
  };
  if (!tls.reload_interval) {
    return {
      server: grpc.ServerCredentials.createSsl(material.ca, [{ cert_chain: material.cert, private_key: material.key }], tls.require_client_cert),
      channelTo: (service) => grpc.credentials.createSsl(material.ca, material.key, material.cert, verifyFor(service)),
    };
  }
  const provider = new ReloadingMaterial(tls, material, tls.reload_interval * 1000, onReload);
  return {
    server: grpc.experimental.createCertificateProviderServerCredentials(provider, provider, tls.require_client_cert),
    channelTo: (service) => grpc.experimental.createCertificateProviderChannelCredentials(provider, provider, verifyFor(service)),
  };
}
