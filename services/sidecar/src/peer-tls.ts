/**
 * Mutual TLS between sidecars (a sidecar's `tls`): the inbound listeners
 * present the workload's certificate and require the caller's, chaining to
 * ca_file; calls to https routes present it and check the server against
 * ca_file, by SPIFFE ID where the route names one, else by host name.
 *
 * The files are read again every reload_interval. Listeners take a rotated
 * set through setSecureContext; outbound calls through a new agent or HTTP/2
 * session per route. Connections already open keep the set they began with.
 */
import { Agent } from "node:https";
import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import type { ConnectionOptions, Server as TlsServer, TlsOptions } from "node:tls";
import { readTlsFiles, requireSpiffeId, spiffeIdOf, watchTlsFiles } from "@sts/grpc";
import type { ReloadListener, TlsMaterial } from "@sts/grpc";
import type { SidecarConfig } from "./config.js";

/** A sidecar's `tls` section. */
export type SidecarTlsConfig = NonNullable<SidecarConfig["tls"]>;

/** How calls to one route are dialled. */
export interface RouteTls {
  /** TLS options of its connections; a new object once the files rotate, so that no connection made before is reused. */
  options: ConnectionOptions;
  /** The HTTP/1.1 agent pooling its connections. */
  agent: Agent;
}

/** What {@link PeerTls} reports. */
export interface PeerTlsEvents {
  /** Each reload that found new files: applied, or refused (the set in use stays). */
  onReload?: ReloadListener;
  /** A handshake a listener refused: no certificate, one from another CA, a plaintext caller. */
  onHandshakeRefused?: (err: Error) => void;
}

/** The sidecar's certificate, key and CA bundle, kept current, and what its listeners and routes make of them. */
export class PeerTls {
  #material: TlsMaterial;
  #routes = new Map<string, RouteTls>();
  readonly #servers = new Set<TlsServer>();
  readonly #stopWatching: () => void;
  readonly #onHandshakeRefused: (err: Error) => void;

  /** Reads the files (failing, naming `section` and the field, when one is missing or unusable) and, with reload_interval, watches them. */
  constructor(config: SidecarTlsConfig, section: string, { onReload, onHandshakeRefused = () => undefined }: PeerTlsEvents = {}) {
    this.#material = readTlsFiles(config, section);
    this.#onHandshakeRefused = onHandshakeRefused;
    this.#stopWatching =
      config.reload_interval > 0
        ? watchTlsFiles(config, {
            section,
            intervalMs: config.reload_interval * 1000,
            current: this.#material,
            onChange: (material) => this.#rotate(material),
            ...(onReload && { onReload }),
          })
        : () => undefined;
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

  /** Stops watching the files. */
  close(): void {
    this.#stopWatching();
  }
}

/** The SPIFFE ID of the peer of a mutual TLS connection; undefined over plaintext, or for a certificate without exactly one URI SAN. */
export function peerSpiffeId(socket: Socket | undefined): string | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  return spiffeIdOf(socket.getPeerCertificate());
}
