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
 * keep the set they began with; the old agents' connections and HTTP/2
 * sessions close once their calls have ended.
 *
 * An X.509-SVID the agent redacts is dropped at once (SPIFFE Workload API
 * §5.2.1): until the next one, the listeners refuse every connection and
 * close the ones open, and calls to https routes fail without dialling. The
 * connections of routes retired by earlier rotations are cut too: the agent
 * has withdrawn the workload's identity, not one certificate of it.
 *
 * TLS verifies a caller's chain only at its handshake, and inbound
 * connections live as long as their callers keep them alive. When a rotation
 * changes the CA bundle, each open inbound connection whose chain does not
 * reach the new bundle is closed, so that a CA taken out of it stops vouching
 * for anyone at once, not at each caller's next reconnection.
 */
import type { ClientRequest } from "node:http";
import { Agent } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import type { ConnectionOptions, Server as TlsServer, TlsOptions } from "node:tls";
import { BundleGate, HeldSvid, readTlsFiles, currentSpiffeIdOf, requireSpiffeId, watchTlsFiles } from "@sts/grpc";
import type { ReloadListener, StreamFailure, TlsMaterial, X509Svid, X509SvidStreams } from "@sts/grpc";
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
  /** Aborted when the SVID in `options` is redacted: nothing dialled with it may carry anything more. */
  withdrawn: AbortSignal;
  /** Aborted when a rotation replaces the route: a connection dialled with `options` takes no new call, and closes once its calls end. */
  retired: AbortSignal;
  /**
   * Reports a connection dialled with `options` outside `agent` (an HTTP/2 session): until it closes, the route is kept
   * after a rotation, so that a redaction still reaches it.
   */
  opened(connection: { once(event: "close", listener: () => void): unknown }): void;
}

/** What {@link PeerTls.route} throws while no identity is held: the call fails as an unreachable upstream does, with nothing sent. */
export class NoIdentityError extends Error {
  override readonly name = "NoIdentityError";
}

/** A route's HTTP/1.1 pool, which a rotation retires rather than leaves to its peers' idle timeouts. */
class RouteAgent extends Agent {
  #retired = false;

  /** Closes the idle connections now, and each busy one as its call ends: no call is cut, and none piles up across rotations. */
  retire(): void {
    this.#retired = true;
    for (const sockets of Object.values(this.freeSockets)) for (const socket of [...(sockets ?? [])]) socket.destroy();
  }

  override keepSocketAlive(socket: Duplex): void {
    // Node closes a freed socket instead of pooling it when this answers nothing.
    if (this.#retired) return;
    return super.keepSocketAlive(socket);
  }

  /** Whether a connection of this pool is still open, or a call waits for one. */
  busy(): boolean {
    const any = (set: NodeJS.ReadOnlyDict<readonly unknown[]>): boolean => Object.values(set).some((list) => (list?.length ?? 0) > 0);
    return any(this.sockets) || any(this.freeSockets) || any(this.requests);
  }

  /**
   * Closes every connection and fails, with `reason` and nothing sent, each call still waiting for one. destroy() alone
   * is not enough: as each socket closes, Node dials a new one, with this agent's (withdrawn) certificate, for the next
   * call queued behind maxSockets.
   */
  withdraw(reason: Error): void {
    const queued = Object.values(this.requests).flatMap((list) => list ?? []);
    const requests = this.requests as Record<string, ClientRequest[]>;
    for (const name of Object.keys(requests)) delete requests[name];
    this.destroy();
    // What Node itself does for a call whose socket could not be made: 'error' with the reason, then 'close'.
    for (const req of queued) (req.onSocket as (socket: Socket | undefined, err: Error) => void).call(req, undefined, reason);
  }
}

/** A route as PeerTls keeps it: what it hands out, and the means to retire or withdraw it. */
interface HeldRoute extends RouteTls {
  agent: RouteAgent;
  withdraw: AbortController;
  retire: AbortController;
  /** Its HTTP/2 sessions still open. */
  sessions: number;
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
  /** The Workload API's agent withdrew the SVID in use (why): no identity until it sends another. */
  onRedacted?: (reason: string) => void;
}

/** The sidecar's certificate, key and CA bundle, kept current, and what its listeners and routes make of them. */
export class PeerTls {
  #material: TlsMaterial;
  #routes = new Map<string, HeldRoute>();
  /** Routes a rotation replaced whose connections were still open then: a redaction must reach those too. */
  #retired = new Set<HeldRoute>();
  readonly #servers = new Set<TlsServer>();
  /** The listeners' connections, held to the CA bundle in use, and closed when the SVID they were made with is redacted. */
  readonly #gate: BundleGate;
  /** The Workload API's SVID in use; files have no such watch. */
  readonly #held: HeldSvid | undefined;
  readonly #section: string;
  readonly #stopWatching: () => void;
  readonly #onHandshakeRefused: (err: Error) => void;

  /**
   * Opens the configured source: the files at once, or the Workload API once it has sent a usable SVID. Fails naming
   * `section` and the field: a missing or unusable file, no SVID within workload_api.startup_timeout. With `streams`,
   * the Workload API stream is the one other sections of the process on the same socket follow (grpc_tls).
   */
  static async open(config: SidecarTlsConfig, section: string, events: PeerTlsEvents = {}, streams?: X509SvidStreams): Promise<PeerTls> {
    if (!("workload_api" in config)) return new PeerTls(config, section, events);
    const { socket, startup_timeout } = config.workload_api;
    // The sidecar's config.ts fills it from SPIFFE_ENDPOINT_SOCKET, or refuses to start.
    if (socket === undefined) throw new TypeError(`${section}.workload_api.socket: not resolved`);
    const { onReload, onStreamFailure, onRedacted } = events;
    const options = {
      socket,
      section: `${section}.workload_api`,
      startupTimeoutMs: startup_timeout * 1000,
      streams,
      ...(onReload && { onReload }),
      ...(onStreamFailure && { onStreamFailure }),
      ...(onRedacted && { onRedacted }),
    };
    return new PeerTls(await HeldSvid.open(options, "without an identity the sidecar does not serve"), section, events);
  }

  /**
   * From the files (read now, failing naming `section` and the field when one is missing or unusable, and watched with
   * reload_interval), or from the SVID held from the Workload API (HeldSvid.open), which hands on each rotation.
   */
  constructor(from: FilesTlsConfig | HeldSvid, section: string, { onReload, onHandshakeRefused = () => undefined, onSvid }: PeerTlsEvents = {}) {
    this.#onHandshakeRefused = onHandshakeRefused;
    this.#section = section;
    if (from instanceof HeldSvid) {
      this.#material = from.first.material;
      this.#gate = new BundleGate(this.#material.ca);
      onSvid?.(from.first);
      // An expiry needs nothing here: hasIdentity() reads it, so new connections and calls out are refused from then on.
      from.follow({
        applied: (svid) => {
          onSvid?.(svid);
          this.#rotate(svid.material);
        },
        redacted: () => this.#drop(),
      });
      this.#held = from;
      this.#stopWatching = () => from.close();
      return;
    }
    this.#material = readTlsFiles(from, section);
    this.#gate = new BundleGate(this.#material.ca);
    this.#stopWatching =
      from.reload_interval > 0
        ? watchTlsFiles(from, {
            section,
            intervalMs: from.reload_interval * 1000,
            current: this.#material,
            onChange: (material) => this.#rotate(material),
            ...(onReload && { onReload }),
          })
        : () => undefined;
  }

  /**
   * Whether there is an identity to serve with: always with files; with the Workload API, until the SVID in use expires
   * (peers would refuse it) or the agent redacts it.
   */
  hasIdentity(now: number = Date.now()): boolean {
    return this.#held?.held(now) ?? true;
  }

  /** Whether the identity can still be renewed: false once the Workload API stream has stopped for good, which only a restart mends. */
  canRenew(): boolean {
    return this.#held?.renewable() ?? true;
  }

  /** Options of an inbound listener: mutual TLS, with no opt-out (a caller's certificate must chain to ca_file). */
  serverOptions(): TlsOptions {
    const { cert, key, ca } = this.#material;
    return { cert, key, ca, requestCert: true, rejectUnauthorized: true };
  }

  /**
   * Keeps a listener made with {@link serverOptions} on the current files, and reports the handshakes it refuses.
   * Without an identity it refuses every connection before any TLS byte: a handshake would present a withdrawn SVID,
   * and a resumed session (TLS 1.3 PSK) would not even present one.
   */
  serve<S extends TlsServer>(server: S): S {
    this.#servers.add(server);
    server.once("close", () => this.#servers.delete(server));
    server.on("tlsClientError", (err: Error) => this.#onHandshakeRefused(err));
    server.prependListener("connection", (socket: Socket) => {
      if (!this.hasIdentity()) {
        socket.destroy();
        return;
      }
      this.#gate.opened(socket);
    });
    // Ahead of Node's own listener: once that has run, the HTTP/1.1 parser or HTTP/2 session reads the bytes that came
    // with the handshake straight from the socket, and their request is handled even though the socket is destroyed.
    server.prependListener("secureConnection", (socket: TLSSocket) => {
      // A handshake begun before the redaction ends with the withdrawn SVID; one begun before the bundle changed was
      // verified against the old bundle.
      if (!this.hasIdentity() || !this.#gate.admits(socket)) socket.destroy();
    });
    return server;
  }

  /** Throws {@link NoIdentityError} while {@link hasIdentity} is false. */
  requireIdentity(): void {
    if (!this.hasIdentity()) {
      throw new NoIdentityError(`${this.#section}: no usable X.509-SVID (redacted by the agent, or expired); calls to https routes fail until the next`);
    }
  }

  /**
   * How to dial the route `name`: the sidecar's certificate as the client's, the server checked against ca_file and
   * `spiffeId` when given. Throws {@link NoIdentityError} while there is no identity to dial with.
   */
  route(name: string, spiffeId: string | undefined): RouteTls {
    this.requireIdentity();
    let route = this.#routes.get(name);
    if (!route) {
      const { cert, key, ca } = this.#material;
      const options: ConnectionOptions = { cert, key, ca, ...(spiffeId !== undefined && { checkServerIdentity: requireSpiffeId(spiffeId) }) };
      // An agent per route: Node pools by address and TLS files, not by the identity check, so a connection checked for
      // one route's SPIFFE ID would otherwise carry another route's calls to the same address.
      const withdraw = new AbortController();
      const retire = new AbortController();
      const agent = new RouteAgent({ ...options, keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 });
      const held: HeldRoute = {
        options,
        agent,
        withdraw,
        retire,
        withdrawn: withdraw.signal,
        retired: retire.signal,
        sessions: 0,
        opened: (connection) => {
          held.sessions++;
          connection.once("close", () => held.sessions--);
        },
      };
      route = held;
      this.#routes.set(name, route);
    }
    return route;
  }

  #rotate(material: TlsMaterial): void {
    this.#material = material;
    const { cert, key, ca } = material;
    for (const server of this.#servers) server.setSecureContext({ cert, key, ca });
    // A peer whose CA left the bundle keeps no identity on the connection it opened before, nor calls under way.
    this.#gate.follow(ca);
    // New calls dial with the new set; the old set is still valid, so the calls under way on it finish.
    for (const route of this.#routes.values()) {
      route.agent.retire();
      route.retire.abort();
      this.#retired.add(route);
    }
    this.#routes = new Map();
    // Checked here rather than as each connection closes: this bounds the set by the routes with connections open at the last rotation.
    for (const route of this.#retired) if (route.sessions === 0 && !route.agent.busy()) this.#retired.delete(route);
  }

  /** The SVID in use was redacted: no connection made with it carries anything more, in-flight calls included. */
  #drop(): void {
    for (const socket of this.#gate.connections) socket.destroy();
    const reason = new NoIdentityError(`${this.#section}: the X.509-SVID this connection was dialled with was redacted by the agent`);
    for (const route of [...this.#routes.values(), ...this.#retired]) {
      route.agent.withdraw(reason);
      route.withdraw.abort(reason);
    }
    this.#routes = new Map();
    this.#retired = new Set();
  }

  /** Stops watching the files, or following the Workload API stream (closed once nothing else follows it). */
  close(): void {
    this.#stopWatching();
  }
}

/**
 * The SPIFFE ID of the peer of a mutual TLS connection, asked per request; undefined over plaintext or a closed
 * connection, for a certificate that is no X.509-SVID leaf (spiffeIdOf), or for one past its dates (a keep-alive
 * connection outlives the handshake's check).
 */
export function peerSpiffeId(socket: Socket | undefined): string | undefined {
  if (!(socket instanceof TLSSocket) || socket.destroyed || !socket.authorized) return undefined;
  // Null once the socket is gone, whatever its type says.
  const cert = socket.getPeerCertificate() as ReturnType<TLSSocket["getPeerCertificate"]> | null;
  return cert ? currentSpiffeIdOf(cert) : undefined;
}
