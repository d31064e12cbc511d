/**
 * The TLS listener of a gRPC server whose material rotates (grpc_tls with
 * reload_interval, or the SPIFFE Workload API). grpc-js's own listener checks
 * a caller's chain at the handshake only, and keeps the connection for as
 * long as the caller does, whatever the trust bundle becomes. This one
 * terminates TLS itself and hands each verified connection to the server
 * (grpc-js's connection injector), so that it keeps a hold on them:
 *
 * - when a rotation changes the CA bundle, each open connection whose peer
 *   chain does not reach the new bundle is closed at once, calls under way
 *   included, so that a CA taken out of the bundle stops vouching for anyone
 *   then, not at each connection's maximum age; a handshake begun under the
 *   old bundle is checked against the new one as it completes;
 * - while the identity is withdrawn, every connection is refused before any
 *   TLS byte, and the open ones are closed.
 */
import type { Socket } from "node:net";
import { createServer } from "node:tls";
import type { Server as TlsServer, TLSSocket } from "node:tls";
import { BundleGate } from "./bundle-gate.js";
import type { RotatingServerTls } from "./tls.js";
import type { TlsMaterial } from "./tls-material.js";

/**
 * Longest a connection may take to complete its TLS handshake (Node's default is 120 s), after which it is closed: a
 * caller that opens connections and never completes a handshake holds no descriptor past it. 10 s, as the sidecars'
 * listeners.
 */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Options of {@link TlsListener.listen}. */
export interface TlsListenerOptions extends RotatingServerTls {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Default {@link TLS_HANDSHAKE_TIMEOUT_MS} (tests shorten it). */
  handshakeTimeoutMs?: number;
  /** Takes a connection that passed the handshake and the checks (the gRPC server's connection injector). */
  accept(socket: TLSSocket): void;
}

/** A listening TLS server whose connections follow the material's rotations and withdrawals. */
export class TlsListener {
  readonly #server: TlsServer;
  readonly #held: () => boolean;
  /** The connections that completed their handshake, held to the CA bundle in use. */
  readonly #gate: BundleGate;
  /** Every TCP connection accepted and not yet closed, for a shutdown or a withdrawal to end. */
  readonly #sockets = new Set<Socket>();
  #unwatch: () => void = () => undefined;

  private constructor(options: TlsListenerOptions) {
    const { material, requireClientCert } = options;
    this.#held = () => material.held();
    const { cert, key, ca } = material.material;
    this.#gate = new BundleGate(ca, requireClientCert);
    // grpc-js's own secure server asks for a client certificate, and requires it, exactly when require_client_cert says so.
    this.#server = createServer({
      cert,
      key,
      ca,
      requestCert: requireClientCert,
      rejectUnauthorized: requireClientCert,
      ALPNProtocols: ["h2"],
      handshakeTimeout: options.handshakeTimeoutMs ?? TLS_HANDSHAKE_TIMEOUT_MS,
    });
    this.#server.prependListener("connection", (socket: Socket) => this.#opened(socket));
    this.#server.on("secureConnection", (socket: TLSSocket) => {
      // A handshake that began before a withdrawal ends with the withdrawn certificate.
      if (this.#held() && this.#gate.admits(socket)) {
        // Errors of a connection are the HTTP/2 session's to report; unhandled, one would crash the process (nodejs/node#35824).
        socket.on("error", () => undefined);
        options.accept(socket);
      } else socket.destroy();
    });
    // A refused handshake (no certificate, another CA, plaintext) ends its connection itself, but one that timed out
    // does not: Node only reports it here, and the socket would stay open for as long as its caller likes.
    this.#server.on("tlsClientError", (_err, socket) => socket.destroy());
    this.#unwatch = material.watchMaterial((next) => (next ? this.#rotate(next) : this.#withdraw()));
  }

  /** Listens on `host`:`port`; rejects when the port cannot be bound. */
  static async listen(options: TlsListenerOptions): Promise<TlsListener> {
    const listener = new TlsListener(options);
    try {
      await new Promise<void>((resolve, reject) => {
        listener.#server.once("error", reject);
        listener.#server.listen({ host: options.host, port: options.port }, () => {
          listener.#server.removeListener("error", reject);
          resolve();
        });
      });
    } catch (err) {
      listener.#unwatch();
      throw err;
    }
    return listener;
  }

  /** The port listened on. */
  get port(): number {
    const address = this.#server.address();
    return typeof address === "object" && address ? address.port : 0;
  }

  /** Stops accepting connections and following the material; the open ones are the gRPC server's to close. */
  close(): void {
    this.#unwatch();
    this.#server.close();
  }

  /** Ends every connection still open, those still in their handshake included (after the gRPC server's shutdown). */
  destroyConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  /** A TCP connection: refused while there is no identity (a handshake would present a withdrawn one), else followed. */
  #opened(socket: Socket): void {
    if (!this.#held()) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.once("close", () => this.#sockets.delete(socket));
    this.#gate.opened(socket);
  }

  #rotate(material: TlsMaterial): void {
    const { cert, key, ca } = material;
    this.#server.setSecureContext({ cert, key, ca });
    this.#gate.follow(ca);
  }

  /** The identity was withdrawn: nothing made with it carries anything more, calls under way included. */
  #withdraw(): void {
    for (const socket of this.#sockets) socket.destroy();
  }
}
