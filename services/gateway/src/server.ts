/** The gateway's HTTP server: routing, limits, and the one place errors become responses. */
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { DEFAULT_MAX_HEADER_BYTES, maxBodyBytesFor } from "@sts/config";
import { callUnary, coalescedCalls } from "@sts/grpc";
import type { ClientServiceClient, ExchangeServiceClient, TokenRequest, TokenResponse__Output, TokenServiceClient } from "@sts/proto";
import { SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api";
import type { Context, Span } from "@opentelemetry/api";
import { durationHistogram, serverSpanStart } from "@sts/telemetry";
import type { IncomingTrace, Logger } from "@sts/telemetry";
import { introspectEndpoint } from "./endpoints/introspect.js";
import { revokeEndpoint } from "./endpoints/revoke.js";
import { backchannelLogoutEndpoint } from "./endpoints/backchannel-logout.js";
import { tokenEndpoint } from "./endpoints/token.js";
import { userinfoEndpoint } from "./endpoints/userinfo.js";
import { registerEndpoint } from "./endpoints/register.js";
import { invalidRequest } from "@sts/errors";
import { JWKS_EDGE_CACHE_SECONDS, JWKS_EDGE_STALE_SECONDS, JWKS_MAX_AGE_SECONDS } from "@sts/keys";
import { DRAIN_MS, HttpDrain, answerClientErrors, answerProbe } from "@sts/runtime";
import type { GatewayContext } from "./endpoints/context.js";
import { ClientGone, checkFormType, parseForm, readBody } from "./form.js";
import type { OAuthForm } from "./form.js";
import { refuseRepeatedHeaders } from "./headers.js";
import { metadataPaths, serverMetadata } from "./metadata.js";
import { JSON_ANSWER_HEADERS, bodyUnread, methodNotAllowed, sendEmpty, sendError, sendJson } from "./respond.js";
import { KeySetCache } from "./key-set.js";
import { TokenLanes } from "./token-lanes.js";

/** Default time a client has to send its request's headers (a slowloris holds a connection no longer). */
export const HEADERS_TIMEOUT_MS = 10_000;
/** Default time a client has to send its whole request, headers and body. */
export const REQUEST_TIMEOUT_MS = 30_000;

/** The `error.type` of a request whose client closed the connection before its body was read. */
const CLIENT_GONE = "client_closed";
/**
 * Token requests with a credential not yet accepted that may wait for the issuer; past it they are answered 503 at
 * once. Four full batches: a flood of wrong secrets costs that much memory, and a client new to the issuer waits at
 * most a few batch round trips.
 */
const UNPROVEN_QUEUE = 256;

/** Options of startGateway. */
export interface GatewayOptions {
  host: string;
  port: number;
  issuer: string;
  token: TokenServiceClient;
  exchange?: ExchangeServiceClient;
  /** Client management (RFC 7591/7592); /oauth2/register is not served without it. */
  clients?: ClientServiceClient;
  logger: Logger;
  /** Largest request body (bytes); default `maxBodyBytesFor` the default token size. */
  maxBodyBytes?: number;
  /** Most bytes of request headers (a bearer token travels in one); the stack's `maxHeaderBytesFor`, default 16 KiB. */
  maxHeaderBytes?: number;
  scopesSupported?: string[];
  /** The issuer's signing algorithm, advertised for ID tokens. */
  idTokenSigningAlgs?: string[];
  deadlineMs?: number;
  /** Whether it can serve now (/readyz). */
  ready?: () => boolean;
  /** Whether it can still recover on its own (/healthz): not once its gRPC identity is lost for good. */
  live?: () => boolean;
  /** Time a client has for its headers; default {@link HEADERS_TIMEOUT_MS}. */
  headersTimeoutMs?: number;
  /** Time a client has for its whole request; default {@link REQUEST_TIMEOUT_MS}. */
  requestTimeoutMs?: number;
  /** telemetry.incoming_trace: continue a caller's W3C trace, or start a new one linked to it (the default). */
  incomingTrace?: IncomingTrace;
  /** How long close() lets the requests under way finish before it closes their connections; default {@link DRAIN_MS}. */
  drainMs?: number;
}

/** A POST endpoint; `gone` aborts once the client has closed its connection before its answer. */
type FormHandler = (req: IncomingMessage, form: OAuthForm, ctx: GatewayContext, gone: AbortSignal) => Promise<Record<string, unknown> | void>;

const POSTS: Record<string, FormHandler> = {
  "/oauth2/token": tokenEndpoint,
  "/oauth2/introspect": introspectEndpoint,
  "/oauth2/revoke": revokeEndpoint,
  "/oauth2/backchannel-logout": backchannelLogoutEndpoint,
};

const tracer = trace.getTracer("@sts/gateway");

const JWKS = "/oauth2/jwks";
/**
 * How long a JWKS request waits for the issuer before it is answered from the last key set (when one is recent enough):
 * less than verifiers wait for a JWKS (jose: 5 s), or an issuer that hangs would hold them past their own timeout.
 */
const JWKS_STALE_AFTER_MS = 1_000;
/** The paths answering GET (and HEAD) besides the metadata's, which depend on the issuer identifier. */
const GETS = [JWKS, "/healthz", "/readyz"];

/**
 * The metadata and the JWKS are public documents that a browser-based client or verifier on any origin fetches (OIDC
 * Discovery, a SPA verifying an ID token): they carry no credential and vary with no caller, so any origin may read
 * them (the Fetch standard's `*`, which a browser never combines with cookies). The endpoints that take credentials
 * get no CORS: the stack has no public clients (`token_endpoint_auth_method: none` is refused), so no browser holds a
 * credential to send them.
 */
const ANY_ORIGIN = { "access-control-allow-origin": "*" };
const PUBLISHED_METHODS = "GET, HEAD, OPTIONS";

/** Answers OPTIONS on a public document: its methods, and a CORS preflight's answer for any origin. */
function answerPreflight(res: ServerResponse): void {
  res.writeHead(204, {
    allow: PUBLISHED_METHODS,
    ...ANY_ORIGIN,
    "access-control-allow-methods": "GET, HEAD",
    "access-control-max-age": "600",
    ...(bodyUnread(res.req) && { connection: "close" }),
  });
  res.end();
}
const USERINFO = "/oauth2/userinfo";
const REGISTER = "/oauth2/register";
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]);

/**
 * The path a request is routed by: of the origin-form, or of the absolute-form a server must accept too (RFC 9112
 * §3.2.2), never its query (which may carry credentials a careless client put there) nor an authority's userinfo.
 */
export function requestPath(target: string | undefined): string {
  const t = target ?? "/";
  if (!/^https?:\/\//i.test(t)) return t.split("?")[0] as string;
  try {
    return new URL(t).pathname;
  } catch {
    return "";
  }
}

/** One value of a header that may repeat (a repeated trace header is ignored). */
function headerValue(v: string | string[] | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/**
 * The server span of one request and the context it runs in, named and attributed per OpenTelemetry's HTTP server
 * convention: `http.route` only for a route the gateway serves (a caller's made-up path is `url.path` alone, never a
 * span name). The gateway is the public edge: a caller's `traceparent` is anyone's choice of trace id and sampling flag,
 * so by default the request starts a trace of its own and only links to the caller's (OpenTelemetry's advice at a trust
 * boundary); `continue` is for an edge only trusted callers reach.
 */
function serverSpan(req: IncomingMessage, method: string, route: string | undefined, incomingTrace: IncomingTrace): { span: Span; parent: Context } {
  const carrier = { traceparent: headerValue(req.headers.traceparent), tracestate: headerValue(req.headers.tracestate) };
  const { parent, options } = serverSpanStart(carrier, incomingTrace);
  const name = route ? `${method} ${route}` : method;
  const attributes = { "http.request.method": method, "url.path": requestPath(req.url), ...(route && { "http.route": route }) };
  return { span: tracer.startSpan(name, { ...options, kind: SpanKind.SERVER, attributes }, parent), parent };
}

/** The distinct `alg` of the keys of a published key set, in its order; none when it is not one. */
export function publishedAlgorithms(jwksJson: string): string[] {
  try {
    const { keys } = JSON.parse(jwksJson) as { keys?: unknown };
    if (!Array.isArray(keys)) return [];
    return [...new Set(keys.map((k: { alg?: unknown } | null) => k?.alg).filter((a): a is string => typeof a === "string" && a.length > 0))];
  } catch {
    return [];
  }
}

/** Starts the HTTP edge; resolves once listening. */
export async function startGateway(options: GatewayOptions): Promise<{ port: number; url: string; close(): Promise<void> }> {
  // The identifier exactly as configured goes into the metadata (RFC 8414 §3.3); endpoint URLs are built on its base.
  const metadataAt = new Set(metadataPaths(options.issuer));
  const deadlineMs = options.deadlineMs ?? 8000;
  // Token requests that arrive together go to the issuer in one TokenBatch call: those with a credential the issuer
  // accepted lately in batches of their own, the rest (which may wait on scrypt there) in a lane with a short queue.
  // A request still waiting for its batch when its client leaves or the deadline passes is answered and never sent.
  const batches = { client: options.token, method: "TokenBatch", deadlineMs };
  const tokenCalls = new TokenLanes(
    coalescedCalls<TokenRequest, TokenResponse__Output>(batches, { maxWaitMs: deadlineMs }),
    coalescedCalls<TokenRequest, TokenResponse__Output>(batches, { maxQueued: UNPROVEN_QUEUE, maxWaitMs: deadlineMs }),
  );
  const ctx: GatewayContext = { issuer: options.issuer, token: options.token, tokenCalls, exchange: options.exchange, logger: options.logger, deadlineMs };
  const maxBody = options.maxBodyBytes ?? maxBodyBytesFor(8192);
  const metadata = serverMetadata(options.issuer, {
    ...(options.scopesSupported && { scopesSupported: options.scopesSupported }),
    ...(options.idTokenSigningAlgs && { idTokenSigningAlgs: options.idTokenSigningAlgs }),
    registration: options.clients !== undefined,
  });
  // A short in-process cache: a burst of verifiers refreshing keys does not hammer the issuer. Both caching times are
  // the shared constants the issuer pre-publishes new keys for: not options, since a longer one here would let a
  // verifier miss a key the issuer already signs with.
  const keySet = new KeySetCache(
    async () => (await callUnary<object, { jwks_json: string }>(options.token, "GetJwks", {}, { deadlineMs: ctx.deadlineMs })).jwks_json,
    JWKS_EDGE_CACHE_SECONDS * 1000,
    JWKS_EDGE_STALE_SECONDS * 1000,
  );

  async function jwks(res: ServerResponse): Promise<void> {
    const { body, stale } = await keySet.currentOrStale(JWKS_STALE_AFTER_MS);
    // A stale copy (the issuer not answering) is kept by verifiers only as long as this gateway's own reuse: they come
    // back soon for the current one.
    const maxAge = stale ? JWKS_EDGE_CACHE_SECONDS : JWKS_MAX_AGE_SECONDS;
    res.writeHead(200, { "content-type": "application/jwk-set+json", "cache-control": `public, max-age=${maxAge}`, ...ANY_ORIGIN });
    res.end(body);
  }

  let metadataCache: { keys: string; body: Record<string, unknown> } | undefined;

  /**
   * The metadata, its ID token algorithms those of the keys the issuer publishes (OIDC Discovery §3: the algorithms it
   * uses): the configured algorithm only names new keys, and a key file's own `alg` or a key made before a change of
   * algorithm signs with another. Discovery waits on the issuer only until a key set is first known: after that, a
   * stale one answers at once while it is fetched again (an issuer down would hold every discovery for the call's
   * deadline). Before any is known and while the issuer cannot say, the configured algorithm.
   */
  async function currentMetadata(): Promise<Record<string, unknown>> {
    const refreshed = keySet.current().catch(() => undefined);
    const keys = keySet.last ?? (await refreshed);
    if (keys === undefined) return metadata;
    if (metadataCache?.keys !== keys) {
      const algs = publishedAlgorithms(keys);
      metadataCache = { keys, body: algs.length > 0 ? { ...metadata, id_token_signing_alg_values_supported: algs } : metadata };
    }
    return metadataCache.body;
  }

  /** The route a path is served by, as a metric attribute: a fixed set, so a caller's made-up paths cannot grow the series. */
  const routeOf = (path: string): string | undefined => {
    if (POSTS[path] || GETS.includes(path) || metadataAt.has(path) || path === USERINFO || path === REGISTER) return path;
    return path.startsWith(`${REGISTER}/`) ? `${REGISTER}/{client_id}` : undefined;
  };

  // The public probes answer as the admin server's do: not live is not ready either.
  const probeChecks = { live: () => options.live?.() ?? true, ready: () => options.ready?.() ?? true };

  async function handle(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean, gone: AbortSignal): Promise<void> {
    refuseRepeatedHeaders(req);
    const readRequestBody = (): Promise<string> => readBody(req, maxBody, expectsContinue ? () => res.writeContinue() : undefined);
    const path = requestPath(req.url);
    const method = req.method ?? "";
    const post = POSTS[path];
    if (post) {
      // RFC 6749 §3.2: the token endpoint (and its siblings) take POST only.
      if (method !== "POST") return methodNotAllowed(res, "POST");
      checkFormType(req.headers["content-type"]);
      const form = parseForm(await readRequestBody());
      const body = await post(req, form, ctx, gone);
      if (body) sendJson(res, 200, body);
      else sendEmpty(res);
      return;
    }
    if (options.clients && (path === REGISTER || path.startsWith(`${REGISTER}/`))) {
      let id: string | undefined;
      try {
        id = path === REGISTER ? undefined : decodeURIComponent(path.slice(REGISTER.length + 1));
      } catch {
        throw invalidRequest("malformed client id in path");
      }
      await registerEndpoint(req, res, options.clients, id, readRequestBody, ctx.deadlineMs);
      return;
    }
    if (path === USERINFO) {
      // OIDC Core §5.3.1: GET or POST; HEAD wherever GET is (RFC 9110 §9.3.2).
      if (method === "POST") await readRequestBody();
      else if (method !== "GET" && method !== "HEAD") return methodNotAllowed(res, "GET, HEAD, POST");
      sendJson(res, 200, await userinfoEndpoint(req, ctx));
      return;
    }
    // A path nothing serves is 404 whatever the method: a 405 would claim the resource exists.
    if (!metadataAt.has(path) && !GETS.includes(path)) return sendJson(res, 404, { error: "invalid_request", error_description: "not found" });
    const published = metadataAt.has(path) || path === JWKS;
    if (published && method === "OPTIONS") return answerPreflight(res);
    if (method !== "GET" && method !== "HEAD") return methodNotAllowed(res, published ? PUBLISHED_METHODS : "GET, HEAD");
    // A GET that brought a body is answered without it and its connection closed: say so, as sendJson does, or a client
    // would send its next request on a connection about to close (RFC 9112 §9.6).
    if (bodyUnread(req)) res.setHeader("connection", "close");
    if (metadataAt.has(path)) sendJson(res, 200, await currentMetadata(), { "cache-control": "public, max-age=300", ...ANY_ORIGIN });
    else if (path === JWKS) await jwks(res);
    else answerProbe(res, path as "/healthz" | "/readyz", probeChecks);
  }

  // OpenTelemetry's HTTP server convention, with the OAuth error code as error.type.
  const durations = durationHistogram("@sts/gateway", "http.server.request.duration", "Duration of HTTP requests to the gateway");

  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const headersTimeout = Math.min(options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS, requestTimeout);
  const limits = {
    headersTimeout,
    requestTimeout,
    // Node checks both timeouts only this often (30 s by default): a slow client would otherwise keep its connection
    // up to 30 s past either (about 40 s instead of 10 for headers), what a slowloris gets for each one it opens.
    connectionsCheckingInterval: Math.min(1_000, headersTimeout / 4),
    maxHeaderSize: options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse, expectsContinue = false): void => {
    drain.track(res);
    const startedAt = performance.now();
    let errorType: string | undefined;
    const route = routeOf(requestPath(req.url));
    const method = METHODS.has(req.method ?? "") ? (req.method as string) : "_OTHER";
    const gone = new AbortController();
    // The request's trace goes on through the issuer or exchanger into the events.
    const { span, parent } = serverSpan(req, method, route, options.incomingTrace ?? "link");
    // An answer given before the body was read to its end (a 404, a 405, an early refusal, a GET that came with a body)
    // would leave Node reading and dropping the rest, however large, until requestTimeout: maxBodyBytes bounds only the
    // bodies the gateway reads. The connection is closed once the answer is out instead.
    res.once("finish", () => {
      if (!req.complete) req.destroy();
    });
    res.once("close", () => {
      // A client that closed its connection before its answer is gone: an exchange not yet minted is cancelled for it.
      if (!res.writableFinished) {
        errorType ??= CLIENT_GONE;
        gone.abort();
      }
      const outcome = {
        "http.request.method": method,
        "http.response.status_code": res.statusCode,
        ...(route && { "http.route": route }),
        ...(errorType && { "error.type": errorType }),
      };
      durations.record((performance.now() - startedAt) / 1000, outcome);
      span.setAttributes(outcome);
      // The convention leaves a 4xx unset on a server span (the caller's mistake); a 5xx, or a client gone, is an error.
      if (res.statusCode >= 500 || errorType === CLIENT_GONE) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context
      .with(trace.setSpan(parent, span), () => handle(req, res, expectsContinue, gone.signal))
      .catch((err: unknown) => {
        if (err instanceof ClientGone || gone.signal.aborted) {
          errorType = CLIENT_GONE;
          req.destroy();
          return;
        }
        const e = sendError(res, err);
        errorType = e.code;
        // The path only: a query string may carry credentials a careless client put there.
        if (e.code === "server_error") options.logger.error({ err, path: requestPath(req.url) }, "request failed");
      });
  };
  const server = createServer(limits, onRequest);
  const drain = new HttpDrain(server);
  // What Node answers on its own (a malformed request, headers too large, a client too slow) gets an OAuth error body.
  answerClientErrors(server, drain, JSON_ANSWER_HEADERS);
  // Without this listener Node answers 100 Continue before the request is handed over, inviting a body that the
  // request's method, size or missing credential would have refused unread.
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => onRequest(req, res, true));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(options.port, options.host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${options.host}:${port}`,
    // Requests under way finish (answered Connection: close) within drainMs; the connections are closed then.
    close: () => drain.close(options.drainMs ?? DRAIN_MS),
  };
}
