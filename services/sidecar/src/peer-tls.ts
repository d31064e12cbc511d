/**
 * Mutual TLS between sidecars (a sidecar's `tls`): the inbound listeners
 * present the workload's certificate and require the caller's, chaining to
 * ca_file; calls to https routes present it and check the server against
 * ca_file, by SPIFFE ID where the route names one, else by host name.
 *
 * The material comes from PEM files, read again every reload_interval, or
 * from the SPIFFE Workload API, which pushes each rotated X.509-SVID. Either
 * way, listeners take a rotated set through setSecureContext; outbound calls
 * through a new agent or HTTP/2 session per route. Connections already open
 * keep the set they began with.
 */
import { Agent } from "node:https";
import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import type { ConnectionOptions, Server as TlsServer, TlsOptions } from "node:tls";
import { X509SvidSource, readTlsFiles, requireSpiffeId, spiffeIdOf, watchTlsFiles } from "@sts/grpc";
import type { ReloadListener, StreamFailure, TlsMaterial, X509Svid } from "@sts/grpc";
import type { SidecarConfig } from "./config.js";

/** A sidecar's `tls` section. */
export type SidecarTlsConfig = NonNullable<SidecarConfig["tls"]>;
/** A `tls` section that names the three files. */
export type FilesTlsConfig = Extract<SidecarTlsConfig, { cert_file: string }>;

/** How calls to one route are dialled. */
export interface RouteTls {
  /** TLS options of its connections; a new object once the files rotate, so that no connection made before is reused. */
  options: ConnectionOptions;
  /** The HTTP/1.1 agent pooling its connections. */
  agent: Agent;
}

/** What {@link PeerTls} reports. */
export interface PeerTlsEvents {
  /** Each reload that found new files, or each new response of the Workload API: applied, or refused (the set in use stays). */
  onReload?: ReloadListener;
  /** A handshake a listener refused: no certificate, one from another CA, a plaintext caller. */
  onHandshakeRefused?: (err: Error) => void;
  /** Each X.509-SVID taken from the Workload API, the first included. */
  onSvid?: (svid: X509Svid) => void;
  /** A failed or ended Workload API stream (opened again after `retryInMs`, or never without it). */
  onStreamFailure?: (failure: StreamFailure) => void;
}

/** The sidecar's certificate, key and CA bundle, kept current, and what its listeners and routes make of them. */
export class PeerTls {
  #material: TlsMaterial;
  /** When the Workload API's SVID in use expires; files have no such watch. */
  #notAfter: Date | undefined;
  #routes = new Map<string, RouteTls>();
  readonly #servers = new Set<TlsServer>();
  readonly #stopWatching: () => void;
  readonly #onHandshakeRefused: (err: Error) => void;

  /**
   * Opens the configured source: the files at once, or the Workload API once it has sent a usable SVID. Fails naming
   * `section` and the field: a missing or unusable file, no SVID within workload_api.startup_timeout.
   */
  static async open(config: SidecarTlsConfig, section: string, events: PeerTlsEvents = {}): Promise<PeerTls> {
    if (!("workload_api" in config)) return new PeerTls(config, section, events);
    const { socket, startup_timeout } = config.workload_api;
    // The sidecar's config.ts fills it from SPIFFE_ENDPOINT_SOCKET, or refuses to start.
    if (socket === undefined) throw new TypeError(`${section}.workload_api.socket: not resolved`);
    const { onReload, onStreamFailure } = events;
    const source = await X509SvidSource.open({
      socket,
      section: `${section}.workload_api`,
      startupTimeoutMs: startup_timeout * 1000,
      ...(onReload && { onReload }),
      ...(onStreamFailure && { onStreamFailure }),
    }).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; without an identity the sidecar does not serve`, { cause: err });
    });
    return new PeerTls(source, section, events);
  }

  /**
   * From the files (read now, failing naming `section` and the field when one is missing or unusable, and watched with
   * reload_interval), or from an open Workload API source, which hands on each rotation.
   */
  constructor(source: FilesTlsConfig | X509SvidSource, section: string, { onReload, onHandshakeRefused = () => undefined, onSvid }: PeerTlsEvents = {}) {
    this.#onHandshakeRefused = onHandshakeRefused;
    if (source instanceof X509SvidSource) {
      const take = (svid: X509Svid): void => {
        this.#notAfter = svid.notAfter;
        onSvid?.(svid);
      };
      this.#material = source.current.material;
      take(source.current);
      source.onRotate((svid) => {
        take(svid);
        this.#rotate(svid.material);
      });
      this.#stopWatching = () => source.stop();
      return;
    }
    this.#material = readTlsFiles(source, section);
    this.#stopWatching =
      source.reload_interval > 0
        ? watchTlsFiles(source, {
            section,
            intervalMs: source.reload_interval * 1000,
            current: this.#material,
            onChange: (material) => this.#rotate(material),
            ...(onReload && { onReload }),
          })
        : () => undefined;
  }

  /** Whether there is an identity to serve with: always with files; with the Workload API, until the SVID in use expires (peers would refuse it). */
  hasIdentity(now: number = Date.now()): boolean {
    return this.#notAfter === undefined || now < this.#notAfter.getTime();
  }

  /** Options of an inbound listener: mutual TLS, with no opt-out (a caller's certificate must chain to ca_file). */
  serverOptions(): TlsOptions {
    const { cert, key, ca } = this.#material;
    return { cert, key, ca, requestCert: true, rejectUnauthorized: true };
  }

  /** Keeps a listener made with {@link serverOptions} on the current files, and reports the handshakes it refuses. */
  serve<S extends TlsServer>(server: S): S {
    this.#servers.add(server);
    server.once("close", () => this.#servers.delete(server));
    server.on("tlsClientError", (err: Error) => this.#onHandshakeRefused(err));
    return server;
  }

  /** How to dial the route `name`: the sidecar's certificate as the client's, the server checked against ca_file and `spiffeId` when given. */
  route(name: string, spiffeId: string | undefined): RouteTls {
    let route = this.#routes.get(name);
    if (!route) {
      const { cert, key, ca } = this.#material;
      const options: ConnectionOptions = { cert, key, ca, ...(spiffeId !== undefined && { checkServerIdentity: requireSpiffeId(spiffeId) }) };
      // An agent per route: Node pools by address and TLS files, not by the identity check, so a connection checked for
      // one route's SPIFFE ID would otherwise carry another route's calls to the same address.
      route = { options, agent: new Agent({ ...options, keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 }) };
      this.#routes.set(name, route);
    }
    return route;
  }

  #rotate(material: TlsMaterial): void {
    this.#material = material;
    const { cert, key, ca } = material;
    for (const server of this.#servers) server.setSecureContext({ cert, key, ca });
    // New calls dial with the new set; idle connections of the old agents close when their peers time them out.
    this.#routes = new Map();
  }

  /** Stops watching the files, or closes the Workload API stream. */
  close(): void {
    this.#stopWatching();
  }
}

/** The SPIFFE ID of the peer of a mutual TLS connection; undefined over plaintext, or for a certificate without exactly one URI SAN. */
export function peerSpiffeId(socket: Socket | undefined): string | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  return spiffeIdOf(socket.getPeerCertificate());
}
