/**
 * gRPC (HTTP/2 cleartext, or over TLS) through the sidecar, on listeners of
 * their own (Node's HTTP/2 sessions read the socket natively, so one port
 * cannot sniff and share). Outbound gRPC calls pick their route by
 * `:authority` (the workload sets its channel's default authority to the route
 * name); headers are rewritten exactly as for HTTP/1.1.
 *
 * Either side of a call may fail at any moment (a client resetting its stream
 * while its token is being checked, an upstream dying mid-answer): every
 * stream and session has an `error` listener, since an unhandled one ends the
 * process, and a failure on one side closes the other.
 */
import { connect as h2connect, constants, createSecureServer as createH2SecureServer, createServer as createH2Server } from "node:http2";
import type {
  ClientHttp2Session,
  ClientHttp2Stream,
  Http2SecureServer,
  Http2Server,
  Http2Session,
  Http2Stream,
  IncomingHttpHeaders,
  OutgoingHttpHeaders,
  SecureServerOptions,
  ServerHttp2Stream,
  ServerOptions,
} from "node:http2";
import type { Socket } from "node:net";
import type { ConnectionOptions } from "node:tls";
import type { PeerTls, RouteTls } from "./peer-tls.js";
import { connectionNominated, isProxyOnly, withdrawnError } from "./proxy.js";

const {
  HTTP2_HEADER_PATH,
  HTTP2_HEADER_METHOD,
  HTTP2_HEADER_AUTHORITY,
  HTTP2_HEADER_SCHEME,
  HTTP2_HEADER_STATUS,
  NGHTTP2_CANCEL,
  NGHTTP2_FLAG_END_STREAM,
  NGHTTP2_INTERNAL_ERROR,
  NGHTTP2_NO_ERROR,
} = constants;

/** gRPC status codes the sidecar answers with itself. */
const GRPC_STATUS = { RESOURCE_EXHAUSTED: 8, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/** What a caller gets when the sidecar could not reach the upstream, whatever the reason. */
export const UPSTREAM_UNAVAILABLE = { grpcStatus: GRPC_STATUS.UNAVAILABLE, message: "upstream unavailable" } as const;

/** How long an HTTP/2 connection may stay open, and how much it may carry; see {@link H2_LIMITS}. */
export interface H2Limits {
  /** A listener's session with no open stream for this long is closed (GOAWAY, then the socket, whatever the peer does). */
  idleTimeoutMs: number;
  /** How long a new connection may take to become an HTTP/2 session: its TLS handshake, then its preface (SETTINGS). */
  prefaceTimeoutMs: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS the listeners announce; streams past it are refused (REFUSED_STREAM). */
  maxConcurrentStreams: number;
  /** How long a session to an upstream may take to connect and send its SETTINGS before its calls fail (UNAVAILABLE). */
  upstreamConnectTimeoutMs: number;
  /** A session to an upstream with no open stream for this long is closed: shorter than a peer's idleTimeoutMs. */
  upstreamIdleTimeoutMs: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE the listeners announce and enforce (bytes, each field counted with 32 more). */
  maxHeaderListSize: number;
}

/**
 * The limits of every HTTP/2 listener and upstream session. Node leaves all of them off: no timeout at all, and
 * SETTINGS_MAX_CONCURRENT_STREAMS at 2^32 - 1, so a connection that never sends its preface stays open for good
 * (grpc_inbound faces the network: anyone could hold file descriptors until none are left, without a token).
 *
 * - maxConcurrentStreams 1000: bounded, unlike Node's and grpc-go's defaults (2^32 - 1) and Envoy's (2^31 - 1). Envoy's
 *   edge guidance says 100, but one grpc-js channel carries every call of a workload on one connection, and so does
 *   this sidecar's pool to each upstream (all of a workload's calls to one destination): long-lived streams past a
 *   limit of 100 would queue a busy workload's calls behind them. 1000 bounds the work one connection can start
 *   (each stream holds a token check, then an upstream stream) with room above what one channel carries.
 * - idleTimeoutMs 60 s, counted from the last open stream: PINGs do not keep a session, nor do long-lived streams
 *   lose theirs. A refused stream is reset as it is answered (see {@link refuse}), so refusals keep nothing open.
 *   Clients reconnect on their next call (grpc-js retries a stream the GOAWAY refused on a new connection).
 * - upstreamIdleTimeoutMs 30 s: the pool closes its own idle sessions before a peer sidecar's 60 s would, so a call
 *   never starts on a session the peer is closing.
 * - prefaceTimeoutMs and upstreamConnectTimeoutMs 10 s: a loopback or in-cluster peer that has not spoken HTTP/2 by
 *   then is not going to; an upstream session stuck connecting would otherwise hold every call of its pool.
 * - maxHeaderListSize 65,535 bytes, the value Node announces (the sidecar passes its HTTP/1.1 listeners' bound, 16 KiB
 *   or what tokens.max_token_bytes needs): announced in SETTINGS and checked on every stream, which is answered
 *   RESOURCE_EXHAUSTED before the router sees it. Node enforces nothing unless told, and even then nothing on the
 *   streams a client opens before it acknowledges the SETTINGS.
 */
export const H2_LIMITS: Readonly<H2Limits> = {
  idleTimeoutMs: 60_000,
  prefaceTimeoutMs: 10_000,
  maxConcurrentStreams: 1000,
  upstreamConnectTimeoutMs: 10_000,
  upstreamIdleTimeoutMs: 30_000,
  maxHeaderListSize: 65_535,
};

/**
 * Session options of a listener. Node's defaults for the two misbehaviour bounds are 1000 invalid frames and 100
 * refused streams before it ends a session: a well-behaved client sends neither (it honours the announced
 * SETTINGS_MAX_CONCURRENT_STREAMS), so 100 of each is ample and stops a flood sooner.
 */
function listenerOptions(limits: H2Limits): ServerOptions {
  return {
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderListSize },
    maxSessionInvalidFrames: 100,
    maxSessionRejectedStreams: 100,
  };
}

/** The same over TLS, where a connection must also finish its handshake and negotiate h2 (ALPN) within the preface's time. */
function secureListenerOptions(limits: H2Limits): SecureServerOptions {
  // Node's handshakeTimeout is 120 s: a connection that never starts its handshake would outlast every other bound.
  return { ...listenerOptions(limits), handshakeTimeout: limits.prefaceTimeoutMs, unknownProtocolTimeout: limits.prefaceTimeoutMs };
}

/**
 * Closes `session` once it has had no open stream for `ms`, counting from now; returns what to call with each stream
 * it carries. Streams, not bytes: PINGs or SETTINGS do not keep an idle session, and a quiet stream is not cut.
 */
function closeWhenIdle(session: Http2Session, ms: number): (stream: Http2Stream) => void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    // destroy(), not close(): with no stream open neither cuts a call, and both send GOAWAY, but after close() Node
    // waits for the peer to close its end, which a peer that ignores the GOAWAY never does. A timer must not keep the
    // process up (the upstream sessions are unref'd for the same reason).
    timer = setTimeout(() => session.destroy(), ms).unref();
  };
  arm();
  session.once("close", () => clearTimeout(timer));
  return (stream) => {
    open++;
    clearTimeout(timer);
    stream.once("close", () => {
      if (--open === 0 && !session.closed && !session.destroyed) arm();
    });
  };
}

/** Destroys `session`, with `error` when given, unless the peer's SETTINGS (its preface) arrive within `ms`. */
function requirePreface(session: Http2Session, ms: number, error?: () => Error): void {
  const timer = setTimeout(() => (error ? session.destroy(error()) : session.destroy()), ms).unref();
  const done = (): void => clearTimeout(timer);
  session.once("remoteSettings", done);
  session.once("close", done);
}

/** Where an admitted call goes: the upstream's origin, the headers to send and, for an https:// upstream, how to dial it. */
export interface H2Route {
  /** An http:// or https:// origin, nothing after it: each call keeps its own `:path`. */
  target: string;
  headers: OutgoingHttpHeaders;
  /**
   * TLS of an https:// target. Sessions are shared only by calls with the same `pool` and the same `options` object:
   * a session checked for one route's identity carries no other route's calls, and new options (rotated files) mean a
   * new session. Once `withdrawn` aborts (the identity in `options` was redacted), the session is destroyed, calls
   * under way included; once `retired` aborts (a rotation), it takes no new call and closes when its calls have
   * ended. `opened` is told of each session dialled.
   */
  tls?: Pick<RouteTls, "options"> & Partial<Pick<RouteTls, "withdrawn" | "retired" | "opened">> & { pool: string };
  /** Told why the session to the upstream failed (refused, a failed TLS or identity check): the caller only sees UNAVAILABLE. */
  onSessionError?: (err: Error) => void;
}

/**
 * Handles one inbound HTTP/2 stream, given the connection it came on and its header fields as received (name, value,
 * …: the header object keeps one of two Authorization fields): decides where it goes, or refuses.
 */
export type H2Router = (headers: IncomingHttpHeaders, socket: Socket | undefined, rawHeaders: readonly string[]) => Promise<H2Route>;

/** Why the sidecar refused a call itself: the gRPC status it answers with and the OAuth error behind it. */
export interface H2Refusal {
  grpcStatus: number;
  message: string;
  errorType: string;
  /** The OAuth error code, sent as `oauth-error` trailing metadata as the stack's gRPC services do; none for a proxy failure. */
  oauthError?: string;
  /** The Bearer challenge of an UNAUTHENTICATED (by default `Bearer error="invalid_token"`) or `insufficient_scope` refusal. */
  challenge?: string;
  /** Seconds after which a retry may pass (a temporarily_unavailable refusal), sent as `retry-after` metadata. */
  retryAfter?: number;
}

/** How one call ended: the gRPC status the caller got (none when the stream was reset) and, for a refusal, the OAuth error. */
export interface H2CallOutcome {
  seconds: number;
  headers: IncomingHttpHeaders;
  grpcStatus?: number;
  errorType?: string;
}

/**
 * Connection-specific headers (RFC 9113 §8.2.2; Node refuses to send them on HTTP/2), the proxy credentials and
 * challenges meant for this hop alone (RFC 9110 §11.7.1-2), `host` (`:authority` replaces it) and ours.
 * `http2-settings` is the h2c upgrade's connection option (RFC 7540 §3.2.1): nghttp2 lets it arrive, in headers and
 * trailers alike, but Node throws on sending it, so passed on it would fail the call (or, in trailers, the process).
 */
const DROP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
  "host",
  "authorization",
]);

/** The only `te` HTTP/2 allows (RFC 9113 §8.2.2), which gRPC requires; nghttp2 takes its value in any case, Node sends only this. */
const TE_TRAILERS = "trailers";

/**
 * Headers forwarded on HTTP/2: everything but pseudo-headers, connection-specific ones, authorization and the names
 * `isProxyOnly` reserves; `te` only as `trailers`, spelled as Node will send it.
 */
export function forwardableH2Headers(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const nominated = connectionNominated(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || k.startsWith(":") || DROP.has(k) || nominated.has(k) || isProxyOnly(k)) continue;
    if (k === "te") {
      if (String(v).toLowerCase() === TE_TRAILERS) out[k] = TE_TRAILERS;
      continue;
    }
    out[k] = v;
  }
  return out;
}

/** A pooled upstream session, the TLS options it was dialled with, and what counts its streams for its idle timeout. */
interface PooledSession {
  session: ClientHttp2Session;
  tls: ConnectionOptions | undefined;
  track: (stream: Http2Stream) => void;
}

const sessions = new Map<string, PooledSession>();

/** One kept-alive HTTP/2 session per upstream origin (and TLS pool). */
function sessionFor(origin: string, tls: H2Route["tls"], onError: H2Route["onSessionError"], limits: H2Limits): PooledSession {
  const key = tls ? `${tls.pool} ${origin}` : origin;
  const current = sessions.get(key);
  if (current && !current.session.closed && !current.session.destroyed) {
    if (current.tls === tls?.options) return current;
    // Rotated files: the old session finishes the calls it carries and takes no new one.
    current.session.close();
  }
  // Refused (UNAVAILABLE) by the caller's catch: an abort listener added now would never fire.
  if (tls?.withdrawn?.aborted) throw withdrawnError(tls.withdrawn);
  // Node's client refuses to send a header block over 64 KiB: what a listener took, its upstream call must carry on.
  const sendable = { maxSendHeaderBlockLength: limits.maxHeaderListSize };
  const session = h2connect(origin, tls ? { ...tls.options, ...sendable } : sendable);
  // A peer that accepts the connection but never speaks HTTP/2 (or a TLS handshake that never ends) would hold this
  // session's calls for good, and every later call of the pool with them: its error fails them all with UNAVAILABLE.
  const ms = limits.upstreamConnectTimeoutMs;
  requirePreface(session, ms, () => new Error(`no HTTP/2 session with the upstream within ${ms} ms`));
  // A session that fails (refused, reset, a failed TLS check, GOAWAY with an error) fails its streams, which answer their callers; it must not end the process.
  const forget = (): void => {
    // An older session closing late must not evict its replacement.
    if (sessions.get(key)?.session === session) sessions.delete(key);
  };
  session.on("error", (err: Error) => {
    onError?.(err);
    forget();
  });
  session.on("close", forget);
  // A route outlives many sessions (peers close idle ones): each must not leave its listeners behind.
  const until = (signal: AbortSignal | undefined, then: () => void): void => {
    if (!signal) return;
    signal.addEventListener("abort", then, { once: true });
    session.once("close", () => signal.removeEventListener("abort", then));
  };
  const withdrawn = tls?.withdrawn;
  // With an error, so that each stream is reset: destroyed without one, they end as if their answers were whole.
  if (withdrawn) until(withdrawn, () => session.destroy(withdrawnError(withdrawn)));
  // Not left for the next call to the pool to close: a pool called no more would keep the old SVID's session for good.
  until(tls?.retired, () => session.close());
  tls?.opened?.(session);
  session.unref();
  const pooled = { session, tls: tls?.options, track: closeWhenIdle(session, limits.upstreamIdleTimeoutMs) };
  sessions.set(key, pooled);
  return pooled;
}

/** A gRPC error answered by the sidecar itself (trailers-only response); only possible before any response headers. */
function refuse(stream: ServerHttp2Stream, refusal: Omit<H2Refusal, "errorType">): void {
  const { grpcStatus, message, oauthError, challenge = 'Bearer error="invalid_token"', retryAfter } = refusal;
  if (stream.closed || stream.destroyed || stream.headersSent) return;
  stream.respond(
    {
      [HTTP2_HEADER_STATUS]: 200,
      "content-type": "application/grpc",
      "grpc-status": String(grpcStatus),
      "grpc-message": encodeURIComponent(message),
      // As the stack's services send them; the description only when it is printable ASCII, as metadata must be.
      ...(oauthError && { "oauth-error": oauthError, ...(/^[\x20-\x7e]*$/.test(message) && { "oauth-error-description": message }) }),
      // The Bearer challenge only where the token is the problem (UNAUTHENTICATED, or short of the route's scopes, RFC
      // 6750 §3.1), not for an unreachable upstream.
      ...((grpcStatus === GRPC_STATUS.UNAUTHENTICATED || oauthError === "insufficient_scope") && { "www-authenticate": challenge }),
      // When a retry may pass (revocations too old to trust, the exchanger shedding load), as the stack's services and
      // the HTTP listeners (Retry-After) say it: without it a client retries at once, or not at all.
      ...(retryAfter !== undefined && { "retry-after": String(retryAfter) }),
    },
    { endStream: true },
  );
  // What the client still sends has nowhere to go. Reset once the answer is out (NO_ERROR: RFC 9113 §8.1 lets a server
  // stop a request it has answered): a client that never ends its request would otherwise keep the stream, and the
  // session with it, open without ever presenting a token.
  stream.resume();
  stream.close(NGHTTP2_NO_ERROR);
}

/** A header list's size as SETTINGS_MAX_HEADER_LIST_SIZE counts it (RFC 9113 §6.5.2): each field's octets, plus 32. */
export function headerListSize(headers: IncomingHttpHeaders): number {
  let size = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) size += name.length + one.length + 32;
  }
  return size;
}

/** Relays an admitted stream both ways; a failure on either side closes the other. */
function relay(stream: ServerHttp2Stream, upstream: ClientHttp2Stream): void {
  let trailers: OutgoingHttpHeaders = {};
  let ended = false;
  upstream.on("response", (h, flags: number) => {
    const { [HTTP2_HEADER_STATUS]: st, ...rest } = h;
    if (stream.closed || stream.destroyed || stream.headersSent) return;
    // A trailers-only answer (how grpc-js sends every error) carries its grpc-status in these headers: it must stay
    // trailers-only, since a client reads the status from the trailers of any other answer and would find none.
    const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    try {
      stream.respond({ [HTTP2_HEADER_STATUS]: st ?? 200, ...forwardableH2Headers(rest) }, endStream ? { endStream } : { waitForTrailers: true });
    } catch {
      // Throwing from an event listener would end the process; the client learns of it as a reset.
      stream.close(NGHTTP2_INTERNAL_ERROR);
      upstream.close(NGHTTP2_CANCEL);
    }
  });
  upstream.on("trailers", (t: IncomingHttpHeaders) => (trailers = forwardableH2Headers(t)));
  stream.on("wantTrailers", () => {
    if (stream.destroyed) return;
    try {
      stream.sendTrailers(trailers);
    } catch {
      // Trailers Node will not send: thrown from this listener, the error would end the process and every call with it.
      stream.close(NGHTTP2_INTERNAL_ERROR);
    }
  });
  upstream.pipe(stream, { end: false });
  // A reset also ends the upstream's data: ending the client's stream then would pass a cut answer off as complete, with empty trailers.
  upstream.on("end", () => {
    if (upstream.rstCode) return;
    ended = true;
    if (!stream.writableEnded) stream.end();
  });
  stream.pipe(upstream);
  // Every upstream failure is followed by 'close', where the client's side is settled.
  upstream.on("error", () => {});
  upstream.on("close", () => {
    if (stream.closed || stream.destroyed) return;
    if (ended) stream.resume();
    else if (!stream.headersSent) refuse(stream, UPSTREAM_UNAVAILABLE);
    else stream.close(upstream.rstCode || NGHTTP2_INTERNAL_ERROR);
  });
  stream.on("close", () => {
    if (!upstream.closed && !upstream.destroyed) upstream.close(stream.rstCode || NGHTTP2_CANCEL);
  });
}

/** The parsed origin of an admitted call's target; a TypeError for anything the config would have refused. */
function targetOrigin(route: H2Route): URL {
  const url = new URL(route.target);
  // A path here would be dropped (each call keeps its own :path): a prefix that seemed to confine calls would not.
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.href !== `${url.origin}/`) {
    throw new TypeError("H2Route.target must be an http(s) origin, with no path, query, fragment or userinfo");
  }
  // Dialled with Node's defaults, an https:// upstream would get no client certificate and the system's CAs.
  if (url.protocol === "https:" && !route.tls) throw new TypeError("an https:// H2Route.target needs its tls");
  return url;
}

async function proxyStream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  rawHeaders: readonly string[],
  router: H2Router,
  refusal: (err: unknown) => H2Refusal,
  limits: H2Limits,
): Promise<string | undefined> {
  // A client may reset its stream at any moment, even while its token is being checked; 'close' does the cleanup.
  stream.on("error", () => {});
  // Checked here, not only by nghttp2: a bound announced in SETTINGS holds only once the client has acknowledged it,
  // and the streams a client opens before that (its first ones, on every new connection) have none.
  if (headerListSize(headers) > limits.maxHeaderListSize) {
    refuse(stream, { grpcStatus: GRPC_STATUS.RESOURCE_EXHAUSTED, message: "request headers too large" });
    return "header_list_too_large";
  }
  let route: H2Route;
  try {
    route = await router(headers, stream.session?.socket, rawHeaders);
  } catch (err) {
    const r = refusal(err);
    refuse(stream, r);
    return r.errorType;
  }
  // The client left while it was being admitted: nothing to forward.
  if (stream.closed || stream.destroyed) return undefined;
  const url = targetOrigin(route);
  let upstream: ClientHttp2Stream;
  try {
    const pooled = sessionFor(url.origin, route.tls, route.onSessionError, limits);
    upstream = pooled.session.request({
      [HTTP2_HEADER_METHOD]: headers[HTTP2_HEADER_METHOD],
      [HTTP2_HEADER_PATH]: headers[HTTP2_HEADER_PATH],
      [HTTP2_HEADER_SCHEME]: url.protocol === "https:" ? "https" : "http",
      [HTTP2_HEADER_AUTHORITY]: url.host,
      ...route.headers,
    });
    pooled.track(upstream);
  } catch {
    // A session going away refuses new streams synchronously.
    refuse(stream, UPSTREAM_UNAVAILABLE);
    return undefined;
  }
  relay(stream, upstream);
  return undefined;
}

/** The grpc-status sent on a finished stream: in its trailers, or in its headers for a trailers-only answer. */
function sentGrpcStatus(stream: ServerHttp2Stream): number | undefined {
  // Node leaves sentHeaders undefined on a stream that never answered (a reset), whatever its type says.
  const headers = stream.sentHeaders as OutgoingHttpHeaders | undefined;
  const value = stream.sentTrailers?.["grpc-status"] ?? headers?.["grpc-status"];
  return value === undefined ? undefined : Number(value);
}

/** What each listener of {@link startH2Proxy} has open, for {@link drainH2Proxy}: its sessions, and every connection (TLS handshakes under way too). */
const listenerOpen = new WeakMap<Http2Server | Http2SecureServer, { sessions: Set<Http2Session>; sockets: Set<Socket> }>();

/**
 * Stops a listener of {@link startH2Proxy} gracefully (SIGTERM): no new connection, and GOAWAY (RFC 9113 §6.8) on each
 * open session, whose calls under way finish while its client takes new ones elsewhere; a session still open after
 * `graceMs` is destroyed. Node's `close()` alone sends no GOAWAY: a client goes on opening streams on its session, which
 * the listener keeps serving, so the stop would wait out the sessions' idle timeout and the process's deadline cut
 * every call still under way.
 */
export function drainH2Proxy(server: Http2Server | Http2SecureServer, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const open = listenerOpen.get(server) ?? { sessions: new Set<Http2Session>(), sockets: new Set<Socket>() };
  for (const session of open.sessions) session.close();
  const deadline = setTimeout(() => {
    for (const session of open.sessions) session.destroy();
    for (const socket of open.sockets) socket.destroy();
  }, graceMs);
  return closed.finally(() => clearTimeout(deadline));
}

/**
 * An HTTP/2 listener for gRPC that proxies each stream as the router decides, reporting how each ended: cleartext
 * (h2c), or mutual TLS (ALPN h2) with `tls`. `limits` replaces some of {@link H2_LIMITS} (tests).
 */
export function startH2Proxy(
  router: H2Router,
  refusal: (err: unknown) => H2Refusal,
  host: string,
  port: number,
  observe: (outcome: H2CallOutcome) => void = () => undefined,
  tls?: Pick<PeerTls, "serverOptions" | "serve">,
  limits: Partial<H2Limits> = {},
): Promise<Http2Server | Http2SecureServer> {
  const bounds: H2Limits = { ...H2_LIMITS, ...limits };
  const h2: Http2Server | Http2SecureServer = tls
    ? tls.serve(createH2SecureServer({ ...tls.serverOptions(), ...secureListenerOptions(bounds) }))
    : createH2Server(listenerOptions(bounds));
  const sessions = new Set<Http2Session>();
  const sockets = new Set<Socket>();
  listenerOpen.set(h2, { sessions, sockets });
  h2.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    requirePreface(session, bounds.prefaceTimeoutMs);
    session.on("stream", closeWhenIdle(session, bounds.idleTimeoutMs));
  });
  // Node passes the fields as received after the flags (@types/node leaves them out of the listener's type).
  h2.on("stream", (stream, headers, _flags, rawHeaders?: readonly string[]) => {
    const startedAt = performance.now();
    let errorType: string | undefined;
    stream.once("close", () => {
      const grpcStatus = sentGrpcStatus(stream);
      observe({ seconds: (performance.now() - startedAt) / 1000, headers, ...(grpcStatus !== undefined && { grpcStatus }), ...(errorType && { errorType }) });
    });
    proxyStream(stream, headers, rawHeaders ?? [], router, refusal, bounds).then(
      (refused) => (errorType = refused),
      () => {
        errorType = "server_error";
        if (!stream.headersSent) refuse(stream, { grpcStatus: GRPC_STATUS.INTERNAL, message: "sidecar error" });
        else if (!stream.closed) stream.close(NGHTTP2_INTERNAL_ERROR);
      },
    );
  });
  return new Promise((resolve) => h2.listen(port, host, () => resolve(h2)));
}
