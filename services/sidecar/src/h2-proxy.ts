/**
 * gRPC (HTTP/2 cleartext) through the sidecar, on listeners of their own
 * (Node's HTTP/2 sessions read the socket natively, so one port cannot sniff
 * and share). Outbound gRPC calls pick their route by `:authority` (the
 * workload sets its channel's default authority to the route name); headers
 * are rewritten exactly as for HTTP/1.1.
 */
import { connect as h2connect, constants, createServer as createH2Server } from "node:http2";
import type { ClientHttp2Session, Http2Server, IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from "node:http2";

const { HTTP2_HEADER_PATH, HTTP2_HEADER_METHOD, HTTP2_HEADER_AUTHORITY, HTTP2_HEADER_SCHEME, HTTP2_HEADER_STATUS } = constants;

/** Handles one inbound HTTP/2 stream: decides the target and the headers to send, or refuses. */
export type H2Router = (headers: IncomingHttpHeaders) => Promise<{ target: string; headers: OutgoingHttpHeaders }>;

/** Headers forwarded on HTTP/2: everything but pseudo-headers, authorization and x-mesh-*. */
export function forwardableH2Headers(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || k.startsWith(":") || k === "authorization" || k.startsWith("x-mesh-") || k === "connection" || k === "host") continue;
    out[k] = v;
  }
  return out;
}

const sessions = new Map<string, ClientHttp2Session>();

/** One kept-alive HTTP/2 session per upstream. */
function sessionFor(target: string): ClientHttp2Session {
  let s = sessions.get(target);
  if (!s || s.closed || s.destroyed) {
    s = h2connect(target);
    s.on("error", () => sessions.delete(target));
    s.on("close", () => sessions.delete(target));
    s.unref();
    sessions.set(target, s);
  }
  return s;
}

/** A gRPC error answered by the sidecar itself (trailers-only response). */
function refuse(stream: ServerHttp2Stream, grpcStatus: number, message: string): void {
  if (stream.closed) return;
  stream.respond(
    {
      [HTTP2_HEADER_STATUS]: 200,
      "content-type": "application/grpc",
      "grpc-status": String(grpcStatus),
      "grpc-message": encodeURIComponent(message),
      "www-authenticate": 'Bearer error="invalid_token"',
    },
    { endStream: true },
  );
}

function proxyStream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  router: H2Router,
  refusal: (err: unknown) => { grpcStatus: number; message: string },
): void {
  router(headers).then(
    ({ target, headers: out }) => {
      const url = new URL(target);
      const upstream = sessionFor(url.origin).request({
        [HTTP2_HEADER_METHOD]: headers[HTTP2_HEADER_METHOD],
        [HTTP2_HEADER_PATH]: headers[HTTP2_HEADER_PATH],
        [HTTP2_HEADER_SCHEME]: "http",
        [HTTP2_HEADER_AUTHORITY]: url.host,
        ...out,
      });
      upstream.on("response", (h) => {
        const { [HTTP2_HEADER_STATUS]: st, ...rest } = h;
        if (!stream.closed) stream.respond({ [HTTP2_HEADER_STATUS]: st ?? 200, ...forwardableH2Headers(rest) }, { waitForTrailers: true });
      });
      let trailers: OutgoingHttpHeaders = {};
      upstream.on("trailers", (t: IncomingHttpHeaders) => (trailers = forwardableH2Headers(t)));
      stream.on("wantTrailers", () => stream.sendTrailers(trailers));
      upstream.pipe(stream);
      stream.pipe(upstream);
      upstream.on("error", () => refuse(stream, 14, "upstream unavailable"));
      stream.on("close", () => upstream.close());
    },
    (err: unknown) => {
      const r = refusal(err);
      refuse(stream, r.grpcStatus, r.message);
      stream.resume();
    },
  );
}

/** An HTTP/2 cleartext (h2c) listener for gRPC that proxies each stream as the router decides. */
export function startH2Proxy(
  router: H2Router,
  refusal: (err: unknown) => { grpcStatus: number; message: string },
  host: string,
  port: number,
): Promise<Http2Server> {
  const h2 = createH2Server();
  h2.on("stream", (stream, headers) => proxyStream(stream, headers, router, refusal));
  return new Promise((resolve) => h2.listen(port, host, () => resolve(h2)));
}
