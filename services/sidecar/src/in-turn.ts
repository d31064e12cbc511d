/**
 * One call at a time per HTTP/1.1 connection. Node's server hands over every request a client pipelines as soon as it
 * is parsed, so the sidecar would verify and forward them all at once, each on its own upstream connection: a POST and
 * the GET pipelined after it could reach the workload in the other order (RFC 9112 §9.3.2 lets a server work on
 * pipelined requests in parallel only when all of them are safe), and one connection, with one valid token, could hold
 * as many upstream calls as requests fit in its bytes, where an HTTP/2 connection is held to its
 * SETTINGS_MAX_CONCURRENT_STREAMS. Envoy likewise reads the next request of a connection only once the previous one is
 * answered. Node still answers in order; this only holds each call until the one before it on its connection has ended.
 *
 * Holding is not reading less, though: Node goes on parsing what a client pipelines, and stops reading a connection only
 * once the answers it has buffered pass the socket's high-water mark. Calls held here have written no answer yet, so
 * nothing ever stopped it: one connection sending 16 MB of `GET / HTTP/1.1` lines, no token needed, held about 1 GB of
 * parsed requests waiting their turn. At most {@link MAX_WAITING} calls wait on a connection; past that, a call is
 * turned away at once (its answer, buffered behind the others, is what makes Node stop reading), and so is every later
 * one on that connection, which the answer closes.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/**
 * Most calls that may wait behind the one under way on one connection. Clients that pipeline at all send a few
 * requests ahead; 32 waiting, each up to the listener's header bound, keep a connection's share of memory to a few MB.
 */
export const MAX_WAITING = 32;

/** The calls waiting behind the one under way, per connection; a connection is absent when none is under way. */
const waiting = new WeakMap<Socket, Array<() => void>>();

/** Connections that pipelined past {@link MAX_WAITING}: every later call on them is turned away, as they are closing. */
const overflowed = new WeakSet<Socket>();

/**
 * Runs `call` (the handling of `req`) now if no call is under way on its connection, else once those before it have
 * ended; calls `turnAway` instead, at once, when {@link MAX_WAITING} calls already wait there (or did): it must answer
 * without reading the body, and close the connection after its answer.
 */
export function inTurn(req: IncomingMessage, res: ServerResponse, call: () => void, turnAway: () => void): void {
  const socket = req.socket;
  const queue = waiting.get(socket);
  if (overflowed.has(socket) || (queue && queue.length >= MAX_WAITING)) {
    // Never queued, and never forwarded: its connection closes after the answer, which no later call could follow.
    overflowed.add(socket);
    turnAway();
    return;
  }
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
