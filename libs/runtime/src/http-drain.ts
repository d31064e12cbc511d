/**
 * A graceful stop for an HTTP/1.1 listener (SIGTERM): the gateway's, and the sidecar's two. Node's `server.close()`
 * stops accepting and closes the connections idle at that moment, and nothing more: a kept-alive connection busy then
 * is answered `Connection: keep-alive` and goes on taking new requests for as long as its client sends them, and Node
 * stops checking headersTimeout and requestTimeout once the server closes, so a slow client holds the stop for good;
 * the process then ends at its shutdown deadline (12 s) with status 1 and the requests under way cut. As Envoy drains
 * a listener, each request under way (and any that still arrives on an open connection) is finished and answered with
 * `Connection: close` (RFC 9112 §9.6), its connection closed once it is sent; past {@link DRAIN_MS} whatever is still
 * open (a TLS handshake under way included) is closed.
 */
import type { Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/**
 * How long a listener lets requests under way finish once its service is stopping, as a gRPC service of the stack
 * drains its calls: well within the process's shutdown deadline (12 s).
 */
export const DRAIN_MS = 5_000;

/** One HTTP/1.1 listener's calls under way, and its graceful close. */
export class HttpDrain {
  readonly #server: Server;
  readonly #open = new Set<ServerResponse>();
  /** Every connection, those still in their TLS handshake included (HTTP's own closeAllConnections knows none of those). */
  readonly #sockets = new Set<Socket>();
  #draining = false;

  constructor(server: Server) {
    this.#server = server;
    server.on("connection", (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
    });
  }

  /** Follows one call of the listener from its start; once draining, its answer closes its connection. */
  track(res: ServerResponse): void {
    this.#open.add(res);
    res.once("close", () => this.#open.delete(res));
    if (this.#draining) this.#closeAfter(res);
  }

  /** Whether an answer on `socket` has started (its head sent): then nothing else may be written there. */
  answerStarted(socket: Socket): boolean {
    // Scanned, not indexed: asked only when a connection fails (clientError), never on a call's own path.
    for (const res of this.#open) if (res.req.socket === socket && res.headersSent) return true;
    return false;
  }

  /** Stops taking connections, lets the calls under way end (for at most `graceMs`), and resolves once every connection is closed. */
  close(graceMs = DRAIN_MS): Promise<void> {
    this.#draining = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const res of this.#open) this.#closeAfter(res);
    const deadline = setTimeout(() => {
      for (const socket of this.#sockets) socket.destroy();
    }, graceMs);
    return closed.finally(() => clearTimeout(deadline));
  }

  /** Closes the connection of `res` once it is answered: said in its head when that is still to be sent, else done after it. */
  #closeAfter(res: ServerResponse): void {
    if (!res.headersSent) res.setHeader("connection", "close");
    // Once the answer is out its connection is idle (unless the client sent another request on it), and closed here.
    else res.once("finish", () => this.#server.closeIdleConnections());
  }
}
