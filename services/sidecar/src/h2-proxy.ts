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
  IncomingHttpHeaders,
  OutgoingHttpHeaders,
  ServerHttp2Stream,
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
} = constants;

/** gRPC status codes the sidecar answers with itself. */
const GRPC_STATUS = { INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/** What a caller gets when the sidecar could not reach the upstream, whatever the reason. */
export const UPSTREAM_UNAVAILABLE = { grpcStatus: GRPC_STATUS.UNAVAILABLE, message: "upstream unavailable" } as const;

/** Where an admitted call goes: the upstream URL, the headers to send and, for an https:// upstream, how to dial it. */
export interface H2Route {
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

/** Handles one inbound HTTP/2 stream, given the connection it came on: decides where it goes, or refuses. */
export type H2Router = (headers: IncomingHttpHeaders, socket: Socket | undefined) => Promise<H2Route>;

/** Why the sidecar refused a call itself: the gRPC status it answers with and the OAuth error behind it. */
export interface H2Refusal {
  grpcStatus: number;
  message: string;
  errorType: string;
}

/** How one call ended: the gRPC status the caller got (none when the stream was reset) and, for a refusal, the OAuth error. */
export interface H2CallOutcome {
  seconds: number;
  headers: IncomingHttpHeaders;
  grpcStatus?: number;
  errorType?: string;
}

/** Connection-specific headers (RFC 9113 §8.2.2; Node refuses to send them on HTTP/2), `host` (`:authority` replaces it) and ours. */
const DROP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host", "authorization"]);

/** Headers forwarded on HTTP/2: everything but pseudo-headers, connection-specific ones, authorization and the names `isProxyOnly` reserves. */
export function forwardableH2Headers(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const nominated = connectionNominated(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || k.startsWith(":") || DROP.has(k) || nominated.has(k) || isProxyOnly(k)) continue;
    out[k] = v;
  }
  return out;
}

const sessions = new Map<string, { session: ClientHttp2Session; tls: ConnectionOptions | undefined }>();

/** One kept-alive HTTP/2 session per upstream origin (and TLS pool). */
function sessionFor(origin: string, tls: H2Route["tls"], onError: H2Route["onSessionError"]): ClientHttp2Session {
  const key = tls ? `${tls.pool} ${origin}` : origin;
  const current = sessions.get(key);
  if (current && !current.session.closed && !current.session.destroyed) {
    if (current.tls === tls?.options) return current.session;
    // Rotated files: the old session finishes the calls it carries and takes no new one.
    current.session.close();
  }
  // Refused (UNAVAILABLE) by the caller's catch: an abort listener added now would never fire.
  if (tls?.withdrawn?.aborted) throw withdrawnError(tls.withdrawn);
  const session = tls ? h2connect(origin, tls.options) : h2connect(origin);
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
  sessions.set(key, { session, tls: tls?.options });
  return session;
}

/** A gRPC error answered by the sidecar itself (trailers-only response); only possible before any response headers. */
function refuse(stream: ServerHttp2Stream, grpcStatus: number, message: string): void {
  if (stream.closed || stream.destroyed || stream.headersSent) return;
  stream.respond(
    {
      [HTTP2_HEADER_STATUS]: 200,
      "content-type": "application/grpc",
      "grpc-status": String(grpcStatus),
      "grpc-message": encodeURIComponent(message),
      // The Bearer challenge only where the token is the problem (UNAUTHENTICATED), not for an unreachable upstream.
      ...(grpcStatus === GRPC_STATUS.UNAUTHENTICATED && { "www-authenticate": 'Bearer error="invalid_token"' }),
    },
    { endStream: true },
  );
  // What the client still sends has nowhere to go.
  stream.resume();
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
    if (!stream.destroyed) stream.sendTrailers(trailers);
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
    else if (!stream.headersSent) refuse(stream, UPSTREAM_UNAVAILABLE.grpcStatus, UPSTREAM_UNAVAILABLE.message);
    else stream.close(upstream.rstCode || NGHTTP2_INTERNAL_ERROR);
  });
  stream.on("close", () => {
    if (!upstream.closed && !upstream.destroyed) upstream.close(stream.rstCode || NGHTTP2_CANCEL);
  });
}

async function proxyStream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  router: H2Router,
  refusal: (err: unknown) => H2Refusal,
): Promise<string | undefined> {
  // A client may reset its stream at any moment, even while its token is being checked; 'close' does the cleanup.
  stream.on("error", () => {});
  let route: H2Route;
  try {
    route = await router(headers, stream.session?.socket);
  } catch (err) {
    const r = refusal(err);
    refuse(stream, r.grpcStatus, r.message);
    return r.errorType;
  }
  // The client left while it was being admitted: nothing to forward.
  if (stream.closed || stream.destroyed) return undefined;
  const url = new URL(route.target);
  let upstream: ClientHttp2Stream;
  try {
    upstream = sessionFor(url.origin, route.tls, route.onSessionError).request({
      [HTTP2_HEADER_METHOD]: headers[HTTP2_HEADER_METHOD],
      [HTTP2_HEADER_PATH]: headers[HTTP2_HEADER_PATH],
      [HTTP2_HEADER_SCHEME]: url.protocol === "https:" ? "https" : "http",
      [HTTP2_HEADER_AUTHORITY]: url.host,
      ...route.headers,
    });
  } catch {
    // A session going away refuses new streams synchronously.
    refuse(stream, UPSTREAM_UNAVAILABLE.grpcStatus, UPSTREAM_UNAVAILABLE.message);
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

/**
 * An HTTP/2 listener for gRPC that proxies each stream as the router decides, reporting how each ended: cleartext
 * (h2c), or mutual TLS (ALPN h2) with `tls`.
 */
export function startH2Proxy(
  router: H2Router,
  refusal: (err: unknown) => H2Refusal,
  host: string,
  port: number,
  observe: (outcome: H2CallOutcome) => void = () => undefined,
  tls?: Pick<PeerTls, "serverOptions" | "serve">,
): Promise<Http2Server | Http2SecureServer> {
  const h2: Http2Server | Http2SecureServer = tls ? tls.serve(createH2SecureServer(tls.serverOptions())) : createH2Server();
  h2.on("stream", (stream, headers) => {
    const startedAt = performance.now();
    let errorType: string | undefined;
    stream.once("close", () => {
      const grpcStatus = sentGrpcStatus(stream);
      observe({ seconds: (performance.now() - startedAt) / 1000, headers, ...(grpcStatus !== undefined && { grpcStatus }), ...(errorType && { errorType }) });
    });
    proxyStream(stream, headers, router, refusal).then(
      (refused) => (errorType = refused),
      () => {
        errorType = "server_error";
        if (!stream.headersSent) refuse(stream, GRPC_STATUS.INTERNAL, "sidecar error");
        else if (!stream.closed) stream.close(NGHTTP2_INTERNAL_ERROR);
      },
    );
  });
  return new Promise((resolve) => h2.listen(port, host, () => resolve(h2)));
}
