/**
 * One call at a time per HTTP/1.1 connection. Node's server hands over every request a client pipelines as soon as it
 * is parsed, so the sidecar would verify and forward them all at once, each on its own upstream connection: a POST and
 * the GET pipelined after it could reach the workload in the other order (RFC 9112 §9.3.2 lets a server work on
 * pipelined requests in parallel only when all of them are safe), and one connection, with one valid token, could hold
 * as many upstream calls as requests fit in its bytes, where an HTTP/2 connection is held to its
 * SETTINGS_MAX_CONCURRENT_STREAMS. Envoy likewise reads the next request of a connection only once the previous one is
 * answered. Node still answers in order; this only holds each call until the one before it on its connection has ended.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** The calls waiting behind the one under way, per connection; a connection is absent when none is under way. */
const waiting = new WeakMap<Socket, Array<() => void>>();

/** Runs `call` (the handling of `req`) now if no call is under way on its connection, else once those before it have ended. */
export function inTurn(req: IncomingMessage, res: ServerResponse, call: () => void): void {
  const socket = req.socket;
  const queue = waiting.get(socket);
  let ended = false;
  /** Hands the connection to the next call waiting on it; once per call, however its end is seen. */
  const next = (): void => {
    if (ended) return;
    ended = true;
    const following = waiting.get(socket)?.shift();
    if (following) following();
    else waiting.delete(socket);
  };
  const start = (): void => {
    res.once("close", next);
    // A connection closed meanwhile has no one to answer: the calls behind it are dropped with it.
    if (socket.destroyed) next();
    else call();
  };
  if (queue) {
    queue.push(start);
  } else {
    waiting.set(socket, []);
    start();
  }
}
