/**
 * Transport security of the stack's gRPC ports and of the calls between the
 * services: TLS from PEM files (or from the SPIFFE Workload API, through
 * open-credentials.ts), mutual unless turned off, or plaintext when no
 * grpc_tls is configured (inside a mesh that supplies mTLS itself).
 */
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "@sts/telemetry";
import { readTlsFiles, watchTlsFiles } from "./tls-files.js";
import type { TlsFiles } from "./tls-files.js";
import type { ReloadListener, TlsMaterial } from "./tls-material.js";

/** What the `grpc_tls` section says whatever the material's source: who must present a certificate, and which. */
export interface GrpcTlsRules {
  require_client_cert: boolean;
  /** SPIFFE ID each service must present, by service name; a service named here is checked by it instead of by host name. */
  spiffe_ids?: Readonly<Partial<Record<string, string>>>;
}

/** The `grpc_tls` section of the config file, with the material from PEM files. */
export interface GrpcTlsFiles extends TlsFiles, GrpcTlsRules {
  /** Seconds between re-reads of the files (certificates rotate, SVIDs hourly); absent: read once. */
  reload_interval?: number;
}

/** What a service listens with and dials with. */
export interface GrpcCredentials {
  server: grpc.ServerCredentials;
  /** Credentials to dial `service`: its SPIFFE ID is required when one is configured, else the dialled host name. */
  channelTo(service?: string): grpc.ChannelCredentials;
  /** Stops keeping the material current (closes the Workload API stream); servers and channels keep the set they hold. */
  close(): void;
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
 * Feeds grpc-js, servers and channels alike, the material in use and each set that replaces it, or no identity while
 * the one in use is withdrawn. A source that has to be polled (the files) is watched only while grpc-js holds a
 * listener: a server or channel that shuts down leaves no timer behind.
 */
export class MaterialProvider implements grpc.experimental.CertificateProvider {
  #current: TlsMaterial;
  #withdrawn = false;
  #stopWatching: (() => void) | undefined;
  readonly #ca = new Set<grpc.experimental.CaCertificateUpdateListener>();
  readonly #identity = new Set<grpc.experimental.IdentityCertificateUpdateListener>();

  /** `watch`, when given, starts watching from the material in use, handing each new set to `apply`, and returns how to stop. */
  constructor(
    initial: TlsMaterial,
    private readonly watch?: (current: TlsMaterial, apply: (next: TlsMaterial) => void) => () => void,
  ) {
    this.#current = initial;
  }

  /** Hands a new set to every server and channel: new connections take it, open ones keep theirs. */
  apply(next: TlsMaterial): void {
    this.#current = next;
    this.#withdrawn = false;
    for (const l of this.#ca) l({ caCertificate: next.ca });
    for (const l of this.#identity) l(this.#identityUpdate());
  }

  /** Withdraws the identity: until the next {@link apply}, servers drop new connections and channels cannot connect. */
  withdraw(): void {
    this.#withdrawn = true;
    for (const l of this.#identity) l(null);
  }

  #identityUpdate(): grpc.experimental.IdentityCertificateUpdate | null {
    return this.#withdrawn ? null : { certificate: this.#current.cert, privateKey: this.#current.key };
  }

  /** Watches while anyone listens, stops when the last listener goes. */
  #listened(): void {
    const listening = this.#ca.size + this.#identity.size > 0;
    if (listening && !this.#stopWatching && this.watch) this.#stopWatching = this.watch(this.#current, (next) => this.apply(next));
    if (!listening && this.#stopWatching) {
      this.#stopWatching();
      this.#stopWatching = undefined;
    }
  }

  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.#ca.add(listener);
    this.#listened();
    process.nextTick(listener, { caCertificate: this.#current.ca });
  }
  removeCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.#ca.delete(listener);
    this.#listened();
  }
  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.#identity.add(listener);
    this.#listened();
    process.nextTick(listener, this.#identityUpdate());
  }
  removeIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.#identity.delete(listener);
    this.#listened();
  }
}

/** Logs reloads of the files configured at `section`: an applied rotation at info, a refused one (the old set stays in use) at warn. */
export function logReloads(logger: Logger, section = "grpc_tls"): ReloadListener {
  return ({ applied, reason }) =>
    applied
      ? logger.info(`${section}: rotated certificate files applied`)
      : logger.warn({ reason }, `${section}: files refused on reload; the certificate in use stays`);
}

/** Credentials whose material comes from `provider`, with `tls`'s client certificate and SPIFFE ID rules. */
export function providerCredentials(provider: MaterialProvider, tls: GrpcTlsRules, close: () => void = () => undefined): GrpcCredentials {
  return {
    server: grpc.experimental.createCertificateProviderServerCredentials(provider, provider, tls.require_client_cert),
    channelTo: (service) => grpc.experimental.createCertificateProviderChannelCredentials(provider, provider, verifyOf(tls, service)),
    close,
  };
}

/** How a channel to `service` checks the server: by its configured SPIFFE ID, else (no options) by host name. */
function verifyOf(tls: GrpcTlsRules, service: string | undefined): grpc.VerifyOptions {
  const expected = service === undefined ? undefined : tls.spiffe_ids?.[service];
  return expected ? { checkServerIdentity: requireSpiffeId(expected) } : {};
}

/** Reads the TLS files at start (failing there, naming the field) and, with reload_interval, again as they rotate. */
export function grpcCredentials(tls: GrpcTlsFiles | undefined, onReload: ReloadListener = () => undefined): GrpcCredentials {
  const none = (): void => undefined;
  if (!tls) return { server: grpc.ServerCredentials.createInsecure(), channelTo: () => grpc.credentials.createInsecure(), close: none };
  const material = readTlsFiles(tls, "grpc_tls");
  if (!tls.reload_interval) {
    return {
      server: grpc.ServerCredentials.createSsl(material.ca, [{ cert_chain: material.cert, private_key: material.key }], tls.require_client_cert),
      channelTo: (service) => grpc.credentials.createSsl(material.ca, material.key, material.cert, verifyOf(tls, service)),
      close: none,
    };
  }
  const intervalMs = tls.reload_interval * 1000;
  const provider = new MaterialProvider(material, (current, onChange) => watchTlsFiles(tls, { section: "grpc_tls", intervalMs, current, onChange, onReload }));
  return providerCredentials(provider, tls);
}
