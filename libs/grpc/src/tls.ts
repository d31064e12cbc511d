/**
 * Transport security of the stack's gRPC ports and of the calls between the
 * services: TLS from PEM files, mutual unless turned off, or plaintext when
 * no files are configured (inside a mesh that supplies mTLS itself).
 */
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "@sts/telemetry";
import { readTlsFiles, watchTlsFiles } from "./tls-files.js";
import type { TlsFiles } from "./tls-files.js";
import type { ReloadListener, TlsMaterial } from "./tls-material.js";

/** The `grpc_tls` section of the config file. */
export interface GrpcTlsFiles extends TlsFiles {
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

/** The one URI SAN of an X.509-SVID (a peer's, or an `X509Certificate`'s `subjectAltName`), or undefined when there is not exactly one. */
export function spiffeIdOf(peer: Pick<PeerCertificate, "subjectaltname">): string | undefined {
  const uris = (peer.subjectaltname ?? "")
    .split(", ")
    .filter((entry) => entry.startsWith("URI:"))
    .map((entry) => entry.slice("URI:".length));
  return uris.length === 1 ? uris[0] : undefined;
}

/** Verifies that the server presents exactly this SPIFFE ID (the chain to ca_file is verified by TLS itself); a `checkServerIdentity`. */
export function requireSpiffeId(expected: string): (host: string, peer: PeerCertificate) => Error | undefined {
  return (_host, peer) => {
    const presented = spiffeIdOf(peer);
    return presented === expected ? undefined : new Error(`server presented ${presented ?? "no single SPIFFE ID"}, expected ${expected}`);
  };
}

/**
 * Feeds grpc-js the files as they change ({@link watchTlsFiles}: only a set
 * that passes the checks replaces the one in use). The files are polled only
 * while grpc-js holds a listener: a server or channel that shuts down leaves
 * no timer behind.
 */
class ReloadingMaterial implements grpc.experimental.CertificateProvider {
  #current: TlsMaterial;
  #stopWatching: (() => void) | undefined;
  readonly #ca = new Set<grpc.experimental.CaCertificateUpdateListener>();
  readonly #identity = new Set<grpc.experimental.IdentityCertificateUpdateListener>();

  constructor(
    private readonly tls: GrpcTlsFiles,
    initial: TlsMaterial,
    private readonly intervalMs: number,
    private readonly onReload: ReloadListener,
  ) {
    this.#current = initial;
  }

  #apply(next: TlsMaterial): void {
    this.#current = next;
    for (const l of this.#ca) l({ caCertificate: next.ca });
    for (const l of this.#identity) l({ certificate: next.cert, privateKey: next.key });
  }

  /** Polls while anyone listens, stops when the last listener goes. */
  #watch(): void {
    const listening = this.#ca.size + this.#identity.size > 0;
    if (listening && !this.#stopWatching) {
      const { intervalMs, onReload } = this;
      this.#stopWatching = watchTlsFiles(this.tls, { section: "grpc_tls", intervalMs, current: this.#current, onChange: (m) => this.#apply(m), onReload });
    }
    if (!listening && this.#stopWatching) {
      this.#stopWatching();
      this.#stopWatching = undefined;
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

/** Logs reloads of the files configured at `section`: an applied rotation at info, a refused one (the old set stays in use) at warn. */
export function logReloads(logger: Logger, section = "grpc_tls"): ReloadListener {
  return ({ applied, reason }) =>
    applied
      ? logger.info(`${section}: rotated certificate files applied`)
      : logger.warn({ reason }, `${section}: files refused on reload; the certificate in use stays`);
}

/** Reads the TLS files at start (failing there, naming the field) and, with reload_interval, again as they rotate. */
export function grpcCredentials(tls: GrpcTlsFiles | undefined, onReload: ReloadListener = () => undefined): GrpcCredentials {
  if (!tls) return { server: grpc.ServerCredentials.createInsecure(), channelTo: () => grpc.credentials.createInsecure() };
  const material = readTlsFiles(tls, "grpc_tls");
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
