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

/** Whether a service holds an identity it may present, and when that changes. */
export interface IdentityState {
  /** False while the identity is withdrawn (an X.509-SVID redacted by the agent, or expired); always true with files or plaintext. */
  held(): boolean;
  /** Calls `listener` at each change of {@link held}; returns how to stop. */
  subscribe(listener: (held: boolean) => void): () => void;
}

/** The identity of files and of plaintext: never withdrawn. */
const ALWAYS_HELD: IdentityState = { held: () => true, subscribe: () => () => undefined };

/** What a service listens with and dials with. */
export interface GrpcCredentials {
  server: grpc.ServerCredentials;
  /** Credentials to dial `service`: its SPIFFE ID is required when one is configured, else the dialled host name. */
  channelTo(service?: string): grpc.ChannelCredentials;
  /**
   * Whether the identity behind `server` and `channelTo` is held. startGrpcServer and createClient follow it for the
   * credentials made here: while it is withdrawn a server reports NOT_SERVING and closes its connections, a client
   * fails its calls and closes its connections.
   */
  identity: IdentityState;
  /**
   * Whether the identity is gone for good: withdrawn, and nothing but a restart brings another (the Workload API
   * stream was refused for good). Never with files or plaintext. The admin server's /healthz follows it.
   */
  lost(): boolean;
  /** Stops keeping the material current (closes the Workload API stream); servers and channels keep the set they hold. */
  close(): void;
}

/** The identity behind credentials made here, for those whose identity can be withdrawn. */
const identities = new WeakMap<grpc.ServerCredentials | grpc.ChannelCredentials, IdentityState>();

/** The identity behind `credentials` when it can be withdrawn (a Workload API SVID); undefined for any other. */
export function identityOf(credentials: grpc.ServerCredentials | grpc.ChannelCredentials): IdentityState | undefined {
  return identities.get(credentials);
}

/** TLS material that rotates (files with reload_interval, the Workload API), as a listener that terminates TLS itself follows it. */
export interface RotatingMaterial {
  /** The set in use, or the last one while the identity is withdrawn. */
  readonly material: TlsMaterial;
  held(): boolean;
  /** Calls `listener` with each set applied, and with undefined at each withdrawal; returns how to stop. */
  watchMaterial(listener: (material: TlsMaterial | undefined) => void): () => void;
}

/** How a server made with credentials whose material rotates takes its connections. */
export interface RotatingServerTls {
  material: RotatingMaterial;
  requireClientCert: boolean;
}

/** The rotating material behind server credentials made here. */
const rotatingServers = new WeakMap<grpc.ServerCredentials, RotatingServerTls>();

/**
 * The rotating material behind server credentials made here, undefined for any other (plaintext, files read once):
 * startGrpcServer terminates TLS itself for these, to re-check open connections when the CA bundle rotates.
 */
export function rotatingServerTlsOf(credentials: grpc.ServerCredentials): RotatingServerTls | undefined {
  return rotatingServers.get(credentials);
}

/** SPIFFE-ID §2.3: the longest SPIFFE ID and trust domain name a validator need accept, in bytes (all ASCII). */
const MAX_SPIFFE_ID_LENGTH = 2048;
const MAX_TRUST_DOMAIN_LENGTH = 255;
const SPIFFE_SCHEME = "spiffe://";
// SPIFFE-ID §2.1 and §2.2: these characters only, so no userinfo (@), port (:), query (?), fragment (#) or
// percent-encoding (%) can be present; a trust domain is lowercase.
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;

/**
 * Whether `uri` is a SPIFFE ID that a leaf X.509-SVID may carry: the spiffe scheme, a trust domain and a path of the
 * SPIFFE ID specification's characters, no empty, `.` or `..` segment (SPIFFE-ID §2), at most 2,048 bytes (§2.3), and
 * a path at all (X509-SVID §3.1: a root ID names a trust domain's signing authority, never a workload).
 */
export function isLeafSpiffeId(uri: string): boolean {
  if (uri.length > MAX_SPIFFE_ID_LENGTH || !uri.startsWith(SPIFFE_SCHEME)) return false;
  const [trustDomain = "", ...path] = uri.slice(SPIFFE_SCHEME.length).split("/");
  if (trustDomain.length > MAX_TRUST_DOMAIN_LENGTH || !TRUST_DOMAIN.test(trustDomain) || path.length === 0) return false;
  return path.every((segment) => PATH_SEGMENT.test(segment) && segment !== "." && segment !== "..");
}

/**
 * The SPIFFE ID of an X.509-SVID leaf (a peer's certificate, or an `X509Certificate`'s `subjectAltName` and `ca`), or
 * undefined when it is not one: not exactly one URI SAN (X509-SVID §2), a URI that is no valid SPIFFE ID of a workload
 * (§5.2, {@link isLeafSpiffeId}), or a CA certificate (§4.1, §5.2: a signing certificate never authenticates a caller
 * or a server, whatever its URI SAN says).
 */
export function spiffeIdOf(peer: Pick<PeerCertificate, "subjectaltname"> & { ca?: boolean | undefined }): string | undefined {
  if (peer.ca === true) return undefined;
  // Splitting at ", " is safe: Node quotes every name holding a comma, quote or control character and escapes the
  // comma inside (\u002c), so one name never reads as two. Such a quoted URI fails isLeafSpiffeId below.
  const uris = (peer.subjectaltname ?? "")
    .split(", ")
    .filter((entry) => entry.startsWith("URI:"))
    .map((entry) => entry.slice("URI:".length));
  const [uri] = uris;
  return uris.length === 1 && uri !== undefined && isLeafSpiffeId(uri) ? uri : undefined;
}

/**
 * The SPIFFE ID of a verified peer's certificate while it is inside its validity period, else undefined. TLS checks
 * the dates only at the handshake, and a kept-alive connection lasts as long as its client likes: a certificate that
 * expired (or a stolen one) would otherwise keep its identity on a connection opened before. No clock tolerance, as
 * the handshake allows none; a date that does not parse fails closed.
 */
export function currentSpiffeIdOf(peer: Pick<PeerCertificate, "subjectaltname" | "ca" | "valid_from" | "valid_to">, now = Date.now()): string | undefined {
  return Date.parse(peer.valid_from) <= now && now <= Date.parse(peer.valid_to) ? spiffeIdOf(peer) : undefined;
}

/**
 * Verifies that the server presents exactly this SPIFFE ID on a leaf certificate ({@link spiffeIdOf}; the chain to
 * ca_file is verified by TLS itself); a `checkServerIdentity`.
 */
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
export class MaterialProvider implements grpc.experimental.CertificateProvider, IdentityState, RotatingMaterial {
  #current: TlsMaterial;
  #withdrawn = false;
  #stopWatching: (() => void) | undefined;
  readonly #ca = new Set<grpc.experimental.CaCertificateUpdateListener>();
  readonly #identity = new Set<grpc.experimental.IdentityCertificateUpdateListener>();
  readonly #holders = new Set<(held: boolean) => void>();
  readonly #watchers = new Set<(material: TlsMaterial | undefined) => void>();

  /** `watch`, when given, starts watching from the material in use, handing each new set to `apply`, and returns how to stop. */
  constructor(
    initial: TlsMaterial,
    private readonly watch?: (current: TlsMaterial, apply: (next: TlsMaterial) => void) => () => void,
  ) {
    this.#current = initial;
  }

  /** Hands a new set to every server and channel: new connections take it, open ones keep theirs (unless it ends a withdrawal). */
  apply(next: TlsMaterial): void {
    const wasWithdrawn = this.#withdrawn;
    this.#current = next;
    this.#withdrawn = false;
    for (const l of this.#ca) l({ caCertificate: next.ca });
    for (const l of this.#identity) l(this.#identityUpdate());
    for (const l of [...this.#watchers]) l(next);
    if (wasWithdrawn) for (const l of [...this.#holders]) l(true);
  }

  /**
   * Withdraws the identity: until the next {@link apply}, servers drop new connections and channels cannot connect.
   * Connections already open are grpc-js's to keep: {@link subscribe}rs close them.
   */
  withdraw(): void {
    if (this.#withdrawn) return;
    this.#withdrawn = true;
    for (const l of this.#identity) l(null);
    for (const l of [...this.#watchers]) l(undefined);
    for (const l of [...this.#holders]) l(false);
  }

  held(): boolean {
    return !this.#withdrawn;
  }

  get material(): TlsMaterial {
    return this.#current;
  }

  /** Also keeps a polled source (the files) watched for as long as `listener` is registered. */
  watchMaterial(listener: (material: TlsMaterial | undefined) => void): () => void {
    this.#watchers.add(listener);
    this.#listened();
    return () => {
      this.#watchers.delete(listener);
      this.#listened();
    };
  }

  subscribe(listener: (held: boolean) => void): () => void {
    this.#holders.add(listener);
    return () => this.#holders.delete(listener);
  }

  #identityUpdate(): grpc.experimental.IdentityCertificateUpdate | null {
    return this.#withdrawn ? null : { certificate: this.#current.cert, privateKey: this.#current.key };
  }

  /** Watches while anyone listens, stops when the last listener goes. */
  #listened(): void {
    const listening = this.#ca.size + this.#identity.size + this.#watchers.size > 0;
    if (listening && !this.#stopWatching && this.watch) this.#stopWatching = this.watch(this.#current, (next) => this.apply(next));
    if (!listening && this.#stopWatching) {
      this.#stopWatching();
      this.#stopWatching = undefined;
    }
  }

  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.#ca.add(listener);
    this.#listened();
    // The set in use when it is delivered: an apply or a withdraw in between must not be overtaken by an older one.
    process.nextTick(() => {
      if (this.#ca.has(listener)) listener({ caCertificate: this.#current.ca });
    });
  }
  removeCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.#ca.delete(listener);
    this.#listened();
  }
  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.#identity.add(listener);
    this.#listened();
    process.nextTick(() => {
      if (this.#identity.has(listener)) listener(this.#identityUpdate());
    });
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

/**
 * Credentials whose material comes from `provider`, with `tls`'s client certificate and SPIFFE ID rules. `withdrawable`:
 * the provider may withdraw the identity (a Workload API SVID), so servers and clients are to follow it (identityOf).
 */
export function providerCredentials(
  provider: MaterialProvider,
  tls: GrpcTlsRules,
  { close = () => undefined, withdrawable = false, renewable = () => true }: { close?: () => void; withdrawable?: boolean; renewable?: () => boolean } = {},
): GrpcCredentials {
  const followed = <C extends grpc.ServerCredentials | grpc.ChannelCredentials>(credentials: C): C => {
    if (withdrawable) identities.set(credentials, provider);
    return credentials;
  };
  const server = followed(grpc.experimental.createCertificateProviderServerCredentials(provider, provider, tls.require_client_cert));
  rotatingServers.set(server, { material: provider, requireClientCert: tls.require_client_cert });
  return {
    server,
    channelTo: (service) => followed(grpc.experimental.createCertificateProviderChannelCredentials(provider, provider, verifyOf(tls, service))),
    identity: provider,
    lost: () => !provider.held() && !renewable(),
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
  const never = (): boolean => false;
  if (!tls) {
    return {
      server: grpc.ServerCredentials.createInsecure(),
      channelTo: () => grpc.credentials.createInsecure(),
      identity: ALWAYS_HELD,
      lost: never,
      close: none,
    };
  }
  const material = readTlsFiles(tls, "grpc_tls");
  if (!tls.reload_interval) {
    return {
      server: grpc.ServerCredentials.createSsl(material.ca, [{ cert_chain: material.cert, private_key: material.key }], tls.require_client_cert),
      channelTo: (service) => grpc.credentials.createSsl(material.ca, material.key, material.cert, verifyOf(tls, service)),
      identity: ALWAYS_HELD,
      lost: never,
      close: none,
    };
  }
  const intervalMs = tls.reload_interval * 1000;
  const provider = new MaterialProvider(material, (current, onChange) => watchTlsFiles(tls, { section: "grpc_tls", intervalMs, current, onChange, onReload }));
  return providerCredentials(provider, tls);
}
