/**
 * The two listeners of a workload's sidecar.
 * - inbound: a call must carry a bearer token of ours for this workload; the
 *   verified subject, scopes and actor chain go to the workload in
 *   `x-mesh-*` headers, which the sidecar strips from what arrives, so they
 *   cannot be forged from outside. Nothing is forwarded on failure.
 * - outbound: the workload calls `/<route>/<path>` with the token it
 *   received; the sidecar swaps it for one restricted to the route's
 *   audience and scopes and forwards with that token only. A call without a
 *   token or to a destination with no route is refused, never forwarded.
 * With `tls`, the inbound listeners speak mutual TLS (see peer-tls.ts): the
 * caller's SPIFFE ID reaches the workload in `x-mesh-peer`, and a peer that
 * `allowed_peers` does not list is refused before its token is looked at.
 * Without an identity (an X.509-SVID redacted or expired), a call to an
 * https:// route fails as one to an unreachable upstream does: 502, or
 * UNAVAILABLE, with nothing sent.
 */
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Http2SecureServer, Http2Server } from "node:http2";
import { createServer as createHttpsServer } from "node:https";
import { isIPv6 } from "node:net";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { status as grpcStatusCodes } from "@grpc/grpc-js";
import { DEFAULT_MAX_HEADER_BYTES } from "@sts/config";
import { OAuthError, toOAuthError } from "@sts/errors";
import { logReloads, logSvidEvents } from "@sts/grpc";
import type { X509SvidStreams } from "@sts/grpc";
import {
  InsufficientScope,
  MisplacedToken,
  bearerChallenge,
  callerHeaders,
  isOriginForm,
  peerHeaders,
  refuseQueryToken,
  refuseTokenOutsideAuthorization,
  refusalStatus,
  requireBearer,
  urlOnOrigin,
  verifyInbound,
} from "@sts/mesh";
import type { ExchangeCache, InboundOptions, VerifiedCaller } from "@sts/mesh";
import { durationHistogram } from "@sts/telemetry";
import { DRAIN_MS, HttpDrain, answerClientErrors } from "@sts/runtime";
import type { AdminChecks } from "@sts/runtime";
import type { Logger } from "@sts/telemetry";
import type { SidecarConfig } from "./config.js";
import { inTurn } from "./in-turn.js";
import { BAD_GATEWAY, forward, forwardableHeaders } from "./proxy.js";
import { UPSTREAM_UNAVAILABLE, drainH2Proxy, forwardableH2Headers, startH2Proxy } from "./h2-proxy.js";
import type { H2CallOutcome, H2Refusal, H2Router } from "./h2-proxy.js";
import { NoIdentityError, PeerTls, peerSpiffeId } from "./peer-tls.js";
import type { PeerTlsEvents, RouteTls } from "./peer-tls.js";
import { refuseRepeatedAuthorization } from "./single-credential.js";

/** Headers the workload receives about its caller (defined with their encoding in @sts/mesh). */
export { MESH_HEADERS } from "@sts/mesh";

/** The `error.type` of a call refused for want of an identity: no OAuth error, nobody's fault but the agent's. */
const NO_IDENTITY = "no_identity";

/**
 * The exchanger's answers about the sidecar's own client, never about the caller's token: its secret wrong or rotated
 * (invalid_client), or the client not allowed to exchange, or its certificate not the one pinned (unauthorized_client).
 */
const OWN_CLIENT_REFUSALS: ReadonlySet<string> = new Set(["invalid_client", "unauthorized_client"]);

/** How often, at most, one kind of refusal of the sidecar's own client is logged: every call fails alike until it is fixed. */
const OWN_CLIENT_LOG_INTERVAL_MS = 60_000;

/**
 * Most time a caller has to send a whole request, head and body, on either HTTP/1.1 listener. Node's default, 300 s,
 * let one caller hold a socket (and on the inbound side the upstream call its body feeds) for five minutes by sending
 * slowly. Calls here go service to service over the cluster network or loopback, where a minute is ample for any
 * request body; long-lived streams are gRPC's, on the HTTP/2 listeners, which this does not touch.
 */
const REQUEST_TIMEOUT_MS = 60_000;

/** The header fields of every answer the sidecar writes itself (never an upstream's). */
const JSON_ANSWER_HEADERS: Readonly<Record<string, string>> = { "content-type": "application/json", "cache-control": "no-store" };

/**
 * Answers a refused call; its `error.type`. With `close` (its body not read yet), the answer says `Connection: close`
 * and the caller sees the connection closed once it is sent.
 */
function refuse(res: ServerResponse, err: unknown, close = false): string {
  const json = { ...JSON_ANSWER_HEADERS, ...(close && { connection: "close" }) };
  if (err instanceof NoIdentityError) {
    if (!res.headersSent) res.writeHead(502, json).end(JSON.stringify(BAD_GATEWAY));
    return NO_IDENTITY;
  }
  const e = toOAuthError(err);
  if (OWN_CLIENT_REFUSALS.has(e.code)) {
    // Our misconfiguration, not the caller's: a 401 or 403 would tell the workload its caller's token is bad, and the
    // exchanger's description names our client's setup. What reached the operators is in the log.
    if (!res.headersSent) res.writeHead(502, json).end(JSON.stringify(BAD_GATEWAY));
    return e.code;
  }
  // RFC 6750 §3: a missing or bad bearer token is 401 with a Bearer challenge; a token sent where none may go is the
  // request's fault (§3.1 invalid_request, 400); a token short of the route's privileges is 403 insufficient_scope,
  // with its challenge too. The exchanger's verdicts arrive here in these terms (ExchangeCache gives them so).
  const status =
    e instanceof MisplacedToken ? 400 : e.code === "invalid_token" ? 401 : e.code === "invalid_target" || e.code === "access_denied" ? 403 : e.status;
  const headers: Record<string, string> = { ...json };
  if (status === 401 || e instanceof InsufficientScope) headers["www-authenticate"] = bearerChallenge(e, e.description);
  if (e instanceof MisplacedToken) headers["www-authenticate"] = `Bearer error="invalid_request", error_description="${e.description}"`;
  if (e.retryAfter !== undefined) headers["retry-after"] = String(e.retryAfter);
  if (!res.headersSent) res.writeHead(status, headers).end(JSON.stringify(e.toJSON()));
  return e.code;
}

/**
 * Closes the connection of a call answered before its body was read, once the answer is sent: read on, the body of a
 * caller that was refused would keep coming until Node's request timeout; left unread, the connection could not carry
 * another request anyway.
 */
function closeOnceAnswered(req: IncomingMessage, res: ServerResponse): void {
  if (res.writableFinished) req.socket.destroy();
  else res.once("finish", () => req.socket.destroy());
}

/** What the sidecar needs. */
export interface SidecarDeps {
  config: SidecarConfig;
  inbound: Omit<InboundOptions, "audience">;
  audience: string;
  /** The exchange cache, holding the revocation state (NATS KV watch) it checks on every call. */
  exchange: ExchangeCache;
  /** Whether the sidecar can verify and exchange now (NATS reachable); part of its readiness (see {@link RunningSidecar}). */
  ready?: () => boolean;
  /** Whether it can still recover on its own besides its `tls` identity (its grpc_tls identity not lost for good); part of its liveness. */
  live?: () => boolean;
  logger: Logger;
  /** Where this sidecar's entry sits in the config file (`sidecars.svc-a`), to name a bad TLS file. */
  configPath?: string;
  /** The process's Workload API streams: `tls` follows the one grpc_tls opened on the same socket rather than its own. */
  svidStreams?: X509SvidStreams;
  /** Most time (ms) a caller may take to send a whole request to an HTTP/1.1 listener; default {@link REQUEST_TIMEOUT_MS} (tests shorten it). */
  requestTimeoutMs?: number;
  /** Most bytes of request headers on every listener (the inbound token travels in one); default 16 KiB. */
  maxHeaderBytes?: number;
}

/** The running sidecar: its dependencies, its TLS material when it has `tls`, and what it reports of its own client. */
interface Sidecar extends SidecarDeps {
  tls: PeerTls | undefined;
  /** The request header bound of every listener, HTTP/1.1 and HTTP/2. */
  maxHeaderBytes: number;
  ownClientRefused: (code: string, route: string, description: string) => void;
}

/**
 * Logs the exchanger's refusals of the sidecar's own client, at error level: the first of each kind, then at most one
 * a {@link OWN_CLIENT_LOG_INTERVAL_MS} with how many were not logged, since every call fails alike until an operator
 * acts. Neither the secret nor any token is in the log: the exchanger's description says which check failed.
 */
function ownClientRefusals(logger: Logger, section: string): Sidecar["ownClientRefused"] {
  const kinds = new Map<string, { loggedAt: number; unlogged: number }>();
  return (code, route, description) => {
    const now = performance.now();
    const kind = kinds.get(code);
    if (kind && now - kind.loggedAt < OWN_CLIENT_LOG_INTERVAL_MS) {
      kind.unlogged++;
      return;
    }
    logger.error(
      { error: code, error_description: description, route, ...(kind && { not_logged_since: kind.unlogged }) },
      `${section}: the exchanger refused this sidecar's own client (its STS_SIDECAR_CLIENT_SECRET, grant_types or certificate); outbound calls answer 502 until that is fixed`,
    );
    kinds.set(code, { loggedAt: now, unlogged: 0 });
  };
}

/**
 * The mutual TLS peer's SPIFFE ID, refusing one that `allowed_peers` does not list before any token work: a stolen
 * token is no use from a workload that may not call this one.
 */
function admitPeer(socket: Socket | undefined, sidecar: Sidecar): string | undefined {
  if (!sidecar.tls) return undefined;
  const peer = peerSpiffeId(socket);
  const allowed = sidecar.config.tls?.allowed_peers;
  if (allowed && (peer === undefined || !allowed.includes(peer))) {
    throw new OAuthError("access_denied", "the calling peer is not allowed to call this workload");
  }
  return peer;
}

/**
 * With `tls.peer_clients`, refuses a token the calling peer was not given: the peer's SPIFFE ID must map to the
 * token's `client_id`, the client it was issued to.
 */
function checkPresenter(peer: string | undefined, caller: VerifiedCaller, sidecar: Sidecar): void {
  const clients = sidecar.config.tls?.peer_clients;
  if (!clients) return;
  // Own properties only: a SPIFFE ID is never "constructor", but the lookup must not depend on that.
  const client = peer !== undefined && Object.hasOwn(clients, peer) ? clients[peer] : undefined;
  if (client === undefined || client !== caller.claims.client_id) {
    throw new OAuthError("invalid_token", "the token was issued to another client than the calling peer");
  }
}

/** The parts of a received call its admission reads: its request target and its header fields as received. */
interface ReceivedCall {
  target: string;
  /** Name, value, name, value, … as received: Node's header object keeps one Authorization of several. */
  rawHeaders: readonly string[];
}

/**
 * Admits the peer, then verifies the call's token and who presents it; the headers the workload gets about its caller.
 * A second token, in the query (`target`) or in another Authorization field, is refused: the workload would receive
 * it beside the verified one, or something on the path would judge it in the verified one's place.
 */
async function admitInbound(
  authorization: string | undefined,
  call: ReceivedCall,
  socket: Socket | undefined,
  sidecar: Sidecar,
): Promise<Record<string, string>> {
  const peer = admitPeer(socket, sidecar);
  refuseQueryToken(call.target);
  refuseRepeatedAuthorization(call.rawHeaders);
  const caller = await verifyInbound(requireBearer(authorization, "a bearer token is required"), { ...sidecar.inbound, audience: sidecar.audience });
  checkPresenter(peer, caller, sidecar);
  return {
    ...forwardedHeaders(socket),
    // The workload gets the token it was called with, to call on through its outbound listener.
    authorization: `Bearer ${caller.token}`,
    ...callerHeaders(caller),
    ...peerHeaders(peer),
  };
}

/**
 * Who called, as the sidecar saw it: the peer's address and whether it came over TLS, on either listener. Whatever the
 * caller wrote in these headers was dropped (see isProxyOnly), so a workload's IP allow-list or "came over https" check
 * reads the truth.
 */
function forwardedHeaders(socket: Socket | undefined): Record<string, string> {
  const address = socket?.remoteAddress;
  return {
    ...(address !== undefined && { "x-forwarded-for": address }),
    "x-forwarded-proto": (socket as Partial<TLSSocket> | undefined)?.encrypted === true ? "https" : "http",
  };
}

/** A call admitted by its caller's token is forwarded to the workload; `admitted` is told before its body is read. */
async function inboundHandler(req: IncomingMessage, res: ServerResponse, deps: Sidecar, admitted: () => void): Promise<void> {
  const caller = await admitInbound(req.headers.authorization, { target: req.url ?? "/", rawHeaders: req.rawHeaders }, req.socket, deps);
  const target = urlOnOrigin(deps.config.upstream, req.url ?? "/");
  admitted();
  logUpstreamError(
    await forward(req, res, target, { ...forwardableHeaders(req.headers), ...caller }, { timeoutMs: deps.config.upstream_idle_timeout * 1000 }),
    target,
    deps.logger,
  );
}

/** The workload or the next sidecar failed mid-call: the caller got 502, operators get the reason (never the headers). */
function logUpstreamError(err: Error | undefined, target: URL, logger: Logger): void {
  if (err) logger.warn({ upstream: target.origin, err: err.message }, "upstream call failed");
}

/**
 * Picks the route and exchanges the workload's token for it; only the exchanged token may leave, over mutual TLS to an
 * https:// route: a call that would also carry the workload's token (its `target` or `headers`, those to be forwarded)
 * is refused, and so is one with two Authorization fields (which token to exchange?). Throws {@link NoIdentityError}
 * for an https:// route while the sidecar holds no identity.
 */
async function admitOutbound(
  routeName: string,
  authorization: string | undefined,
  outgoing: ReceivedCall & { headers: Readonly<Record<string, unknown>> },
  deps: Sidecar,
  protocol: "http" | "grpc" = "http",
): Promise<{ url: string; authorization: string; tls?: RouteTls }> {
  // Own properties only: "constructor" or "__proto__" must not find Object's members.
  const route = Object.hasOwn(deps.config.routes, routeName) ? deps.config.routes[routeName] : undefined;
  if (!route) throw new OAuthError("invalid_target", "no route to this destination");
  refuseRepeatedAuthorization(outgoing.rawHeaders);
  const token = requireBearer(authorization, "the inbound bearer token is required");
  // Checked before any exchange: the call must not leave at all, and costs the STS nothing.
  refuseTokenOutsideAuthorization(token, outgoing.target, outgoing.headers);
  // A revoked or malformed inbound token is refused by the exchange cache, given its revocations: on a hit against the
  // claims it decoded when it made the entry, on a miss before any exchange.
  const url = protocol === "grpc" ? (route.grpc_url ?? route.url) : route.url;
  let tls: PeerTls | undefined;
  if (new URL(url).protocol === "https:") {
    // The config refuses an https:// route on a sidecar without tls.
    if (!deps.tls) throw new TypeError(`route ${routeName}: an https:// route needs the sidecar's tls`);
    // A call that cannot leave costs the STS no exchange either.
    deps.tls.requireIdentity();
    tls = deps.tls;
  }
  const exchanged = await deps.exchange.tokenFor(token, route.audience, route.scopes).catch((err: unknown) => {
    if (err instanceof OAuthError && OWN_CLIENT_REFUSALS.has(err.code)) deps.ownClientRefused(err.code, routeName, err.description);
    throw err;
  });
  const outbound = { url, authorization: `Bearer ${exchanged.accessToken}` };
  // Taken after the exchange: an SVID redacted meanwhile must not be dialled with.
  return tls ? { ...outbound, tls: tls.route(routeName, route.spiffe_id) } : outbound;
}

/** The host name the workload called the outbound listener on, as WHATWG URL writes it (IPv6 in brackets). */
function listenerHost(req: IncomingMessage): string | undefined {
  const local = req.socket.localAddress;
  const host = req.headers.host ?? (local === undefined ? undefined : isIPv6(local) ? `[${local}]` : local);
  if (host === undefined) return undefined;
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return undefined;
  }
}

/**
 * The route an outbound target names and what goes on to its destination: `/svc-b/p?q` is route `svc-b` and `/p?q`,
 * `/svc-b?q` route `svc-b` and `/?q`. The route is the first segment of the path, never of the query.
 */
function routedTarget(target: string): { routeName: string; rest: string } {
  const queryAt = target.indexOf("?");
  const [path, query] = queryAt === -1 ? [target, ""] : [target.slice(0, queryAt), target.slice(queryAt)];
  const [, routeName = "", ...segments] = path.split("/");
  return { routeName, rest: `/${segments.join("/")}${query}` };
}

/** A call to `/<route>/<path>` goes to the route's destination with an exchanged token; `admitted` is told before its body is read. */
async function outboundHandler(req: IncomingMessage, res: ServerResponse, deps: Sidecar, admitted: () => void): Promise<void> {
  const { routeName, rest } = routedTarget(req.url ?? "/");
  const headers = forwardableHeaders(req.headers);
  const out = await admitOutbound(routeName, req.headers.authorization, { target: req.url ?? "/", rawHeaders: req.rawHeaders, headers }, deps);
  const target = urlOnOrigin(out.url, rest);
  admitted();
  logUpstreamError(
    await forward(
      req,
      res,
      target,
      { ...headers, authorization: out.authorization },
      {
        timeoutMs: deps.config.upstream_idle_timeout * 1000,
        ...(out.tls && { agent: out.tls.agent, signal: out.tls.withdrawn }),
        // Every route answers on this one listener: a destination's redirect must stay on its own route.
        redirects: { prefix: `/${routeName}`, listenerHost: listenerHost(req) },
      },
    ),
    target,
    deps.logger,
  );
}

/** gRPC status for a refusal: the mesh library's, so that an in-process client and the sidecar answer alike. */
function grpcRefusal(err: unknown): H2Refusal {
  if (err instanceof NoIdentityError) return { ...UPSTREAM_UNAVAILABLE, errorType: NO_IDENTITY };
  const e = toOAuthError(err);
  const { code, details } = refusalStatus(e);
  return {
    grpcStatus: code,
    message: details,
    errorType: e.code,
    oauthError: e.code,
    challenge: bearerChallenge(err),
    ...(e.retryAfter !== undefined && { retryAfter: e.retryAfter }),
  };
}

/** The route an outbound call names, when the config has it (a metric attribute: made-up names add no series). */
function knownRoute(url: string | undefined, routes: SidecarConfig["routes"]): string | undefined {
  const name = routedTarget(url ?? "/").routeName;
  return Object.hasOwn(routes, name) ? name : undefined;
}

/** Why a request cannot be proxied at all, before its token is looked at: the status and body it gets. */
function unproxiable(req: IncomingMessage): { status: number; body: object } | undefined {
  // Absolute- and authority-form targets would name a host of the caller's choosing: only paths are proxied.
  if (!isOriginForm(req.url ?? "")) return { status: 400, body: new OAuthError("invalid_request", "the request target must be a path").toJSON() };
  // Node's parser undoes the chunked coding only, and the request goes on chunked: any other coding (`gzip, chunked`)
  // would be dropped from Transfer-Encoding while the body stays coded, so the workload would take the coded bytes for
  // the content (RFC 9112 §6.1). As Envoy does, such a request is answered 501 (Not Implemented).
  const codings = req.headers["transfer-encoding"];
  if (codings !== undefined && codings.trim().toLowerCase() !== "chunked") {
    return { status: 501, body: { error: "not_implemented", error_description: "only the chunked transfer coding is supported" } };
  }
  return undefined;
}

/**
 * An HTTP/1.1 listener: HTTPS with mutual TLS when `tls` is given. The handler calls its `admitted` once the call may
 * go on, before it reads the body: only then does a caller that asked (`Expect: 100-continue`) get its 100 Continue.
 */
function listen(
  listener: "inbound" | "outbound",
  handler: (req: IncomingMessage, res: ServerResponse, admitted: () => void) => Promise<void>,
  deps: Sidecar,
  { host, port }: { host: string; port: number },
  tls?: PeerTls,
): Promise<{ server: Server; drain: HttpDrain }> {
  const { logger } = deps;
  // OpenTelemetry's HTTP server convention, per listener; the outbound one also names the route.
  const durations = durationHistogram("@sts/sidecar", "http.server.request.duration", "Duration of calls through the sidecar, forwarding included");
  const onRequest = (req: IncomingMessage, res: ServerResponse, expectsContinue = false): void => {
    drain.track(res);
    const startedAt = performance.now();
    let errorType: string | undefined;
    res.once("close", () => {
      const route = listener === "outbound" ? knownRoute(req.url, deps.config.routes) : undefined;
      durations.record((performance.now() - startedAt) / 1000, {
        "sts.listener": listener,
        "http.response.status_code": res.statusCode,
        ...(route && { "sts.route": route }),
        ...(errorType && { "error.type": errorType }),
      });
    });
    const take = (): void => {
      const early = unproxiable(req);
      if (early) {
        const unread = !req.complete;
        res.writeHead(early.status, { ...JSON_ANSWER_HEADERS, ...(unread && { connection: "close" }) });
        res.end(JSON.stringify(early.body));
        if (unread) closeOnceAnswered(req, res);
        return;
      }
      handler(req, res, () => {
        if (expectsContinue) res.writeContinue();
      }).catch((err: unknown) => {
        // A missing identity was logged once, as the agent redacted it.
        if (!(err instanceof OAuthError) && !(err instanceof NoIdentityError)) logger.error({ err }, "sidecar request failed");
        // A refused caller's body is never read: not even after the answer, where it would flow in until the request timeout.
        const unread = !req.complete;
        errorType = refuse(res, err, unread);
        if (unread) closeOnceAnswered(req, res);
      });
    };
    /**
     * Pipelined past what one connection may have waiting: answered in its turn (Node keeps the order), with
     * Connection: close, and neither its token nor its body looked at.
     */
    const turnAway = (): void => {
      errorType = refuse(res, new OAuthError("temporarily_unavailable", "too many requests pipelined on one connection"), true);
      if (!req.complete) closeOnceAnswered(req, res);
    };
    // Pipelined requests are taken one at a time, in order (see in-turn.ts).
    inTurn(req, res, take, turnAway);
  };
  const requestTimeout = deps.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const options = {
    maxHeaderSize: deps.maxHeaderBytes,
    headersTimeout: Math.min(10_000, requestTimeout),
    requestTimeout,
    // Node looks for expired requests this often (30 s by default), which would let one outlive its timeouts by as much.
    connectionsCheckingInterval: Math.min(5_000, requestTimeout / 4),
  };
  // Node's TLS handshake timeout is 120 s: a connection that never finishes its handshake is held that long, token or not.
  const http: Server = tls
    ? tls.serve(createHttpsServer({ ...options, handshakeTimeout: 10_000, ...tls.serverOptions() }, onRequest))
    : createServer(options, onRequest);
  const drain = new HttpDrain(http);
  // What Node answers on its own (a malformed request, headers too large, a caller too slow) gets the JSON error body.
  answerClientErrors(http, drain, JSON_ANSWER_HEADERS);
  // Without a checkContinue listener Node answers 100 Continue before the request is handed over, inviting the body of
  // a caller whose token has not been looked at yet.
  http.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => onRequest(req, res, true));
  return new Promise((resolve) => http.listen(port, host, () => resolve({ server: http, drain })));
}

/**
 * OpenTelemetry's RPC server convention for the gRPC listeners: per listener, the configured route (outbound), the
 * gRPC status the caller got (`rpc.response.status_code`, absent for a reset stream) and the OAuth error of a refusal.
 * The method is left out: on the inbound side it is whatever an unauthenticated caller wrote.
 */
function grpcCallDurations(listener: "grpc_inbound" | "grpc_outbound", deps: Sidecar): (outcome: H2CallOutcome) => void {
  const durations = durationHistogram("@sts/sidecar", "rpc.server.call.duration", "Duration of gRPC calls through the sidecar, forwarding included");
  return ({ seconds, headers, grpcStatus, errorType }) => {
    const route = listener === "grpc_outbound" ? knownRoute(`/${String(headers[":authority"] ?? "").replace(/:\d+$/, "")}`, deps.config.routes) : undefined;
    durations.record(seconds, {
      "rpc.system.name": "grpc",
      "sts.listener": listener,
      ...(grpcStatus !== undefined && { "rpc.response.status_code": grpcStatusCodes[grpcStatus] ?? String(grpcStatus) }),
      ...(route && { "sts.route": route }),
      ...(errorType && { "error.type": errorType }),
    });
  };
}

/** What the sidecar logs of its TLS source: file reloads as grpc_tls's are, Workload API SVIDs and stream failures. */
function tlsEvents(tls: NonNullable<SidecarConfig["tls"]>, section: string, logger: Logger): PeerTlsEvents {
  // A caller without a certificate from ca_file never gets a request in; debug, as a port scanner would flood anything louder.
  const onHandshakeRefused = (err: Error): void => logger.debug({ err: err.message }, "TLS handshake refused");
  if (!("workload_api" in tls)) return { onReload: logReloads(logger, section), onHandshakeRefused };
  const at = `${section}.workload_api`;
  return {
    onHandshakeRefused,
    onSvid: ({ spiffeId, notAfter }) => logger.info({ spiffe_id: spiffeId, not_after: notAfter.toISOString() }, `${at}: X.509-SVID applied`),
    ...logSvidEvents(logger, at, {
      withdrawn: "not ready, refusing connections and https routes until the next",
      refusedForGood: "no X.509-SVID will come again, so /healthz fails for a restart",
    }),
  };
}

/** A sidecar with every listener up. */
export interface RunningSidecar {
  inboundPort: number;
  outboundPort: number;
  /** What its health listener's probes answer from now on: its own `live` and `ready`, and its `tls` identity's. */
  checks: AdminChecks;
  /** Stops taking calls and lets those under way finish, for at most {@link DRAIN_MS}: HTTP/1.1 answers say `Connection: close`, HTTP/2 sessions get GOAWAY. */
  close(): Promise<void>;
}

/**
 * Starts the listeners. With `config.tls`, takes the TLS material first: the files (failing, naming the field, when one
 * is missing or unusable), or the Workload API's first X.509-SVID (failing after startup_timeout, the caller's health
 * listener answering 503 on /readyz meanwhile). The inbound listeners serve mutual TLS; the others stay cleartext, on
 * the workload's side.
 */
export async function startSidecar(deps: SidecarDeps): Promise<RunningSidecar> {
  const section = `${deps.configPath ?? "sidecar"}.tls`;
  // Fail closed: without an identity this throws and no listener serves.
  const tls = deps.config.tls && (await PeerTls.open(deps.config.tls, section, tlsEvents(deps.config.tls, section, deps.logger), deps.svidStreams));
  const sidecar: Sidecar = {
    ...deps,
    tls,
    maxHeaderBytes: deps.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
    ownClientRefused: ownClientRefusals(deps.logger, deps.configPath ?? "sidecar"),
  };
  const inbound = await listen("inbound", (req, res, admitted) => inboundHandler(req, res, sidecar, admitted), sidecar, deps.config.inbound, tls);
  const outbound = await listen("outbound", (req, res, admitted) => outboundHandler(req, res, sidecar, admitted), sidecar, deps.config.outbound);
  const inboundTarget = new URL(deps.config.grpc_upstream ?? deps.config.upstream);
  const inboundRouter: H2Router = async (headers, socket, rawHeaders) => ({
    target: inboundTarget.href,
    headers: {
      ...forwardableH2Headers(headers),
      ...(await admitInbound(headers.authorization, { target: String(headers[":path"] ?? "/"), rawHeaders }, socket, sidecar)),
    },
    onSessionError: (err) => logUpstreamError(err, inboundTarget, deps.logger),
  });
  const outboundRouter: H2Router = async (headers, _socket, rawHeaders) => {
    // gRPC picks its route by :authority (the channel's default authority is the route name).
    const routeName = String(headers[":authority"] ?? "").replace(/:\d+$/, "");
    const forwarded = forwardableH2Headers(headers);
    const out = await admitOutbound(
      routeName,
      headers.authorization,
      { target: String(headers[":path"] ?? "/"), rawHeaders, headers: forwarded },
      sidecar,
      "grpc",
    );
    return {
      target: out.url,
      headers: { ...forwarded, authorization: out.authorization },
      ...(out.tls && { tls: { ...out.tls, pool: routeName } }),
      onSessionError: (err) => logUpstreamError(err, new URL(out.url), deps.logger),
    };
  };
  const h2Servers: Array<Http2Server | Http2SecureServer> = [];
  const h2Limits = { maxHeaderListSize: sidecar.maxHeaderBytes };
  if (deps.config.grpc_inbound) {
    const { host, port } = deps.config.grpc_inbound;
    h2Servers.push(await startH2Proxy(inboundRouter, grpcRefusal, host, port, grpcCallDurations("grpc_inbound", sidecar), tls, h2Limits));
  }
  if (deps.config.grpc_outbound) {
    const { host, port } = deps.config.grpc_outbound;
    h2Servers.push(await startH2Proxy(outboundRouter, grpcRefusal, host, port, grpcCallDurations("grpc_outbound", sidecar), undefined, h2Limits));
  }
  // Only now, every listener up, are there checks to answer with: until the caller hands them over, /readyz says 503.
  return {
    inboundPort: (inbound.server.address() as AddressInfo).port,
    outboundPort: (outbound.server.address() as AddressInfo).port,
    checks: {
      // An identity that can no longer be renewed (its agent refusing the stream for good) needs a restart.
      live: () => (tls?.canRenew() ?? true) && (deps.live?.() ?? true),
      // Without its identity (an SVID redacted or expired) the inbound listeners refuse every connection.
      ready: () => (deps.ready?.() ?? true) && (tls?.hasIdentity() ?? true),
    },
    close: async () => {
      tls?.close();
      // Calls under way finish (for at most DRAIN_MS), told to close their connections; no new connection is taken.
      await Promise.all([inbound.drain.close(), outbound.drain.close(), ...h2Servers.map((server) => drainH2Proxy(server, DRAIN_MS))]);
    },
  };
}
