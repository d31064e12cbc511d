/**
 * The sidecar's two jobs in-process, for @grpc/grpc-js code that wants them:
 * a server interceptor that verifies the inbound bearer token (refusing with
 * UNAUTHENTICATED) and hands the verified caller to the handler in
 * `x-mesh-*` metadata (any such keys sent by the peer are dropped first),
 * and a client interceptor that swaps the token it is given for one
 * restricted to the callee's audience and scopes before the call leaves.
 */
import { InterceptingCall, Metadata, ServerInterceptingCall, status } from "@grpc/grpc-js";
import type { Interceptor, ServerInterceptor, StatusObject } from "@grpc/grpc-js";
import { OAuthError, toOAuthError } from "@sts/errors";
import type { ExchangeCache, TokenForOptions } from "./exchange-cache.js";
import { NoBearerCredential, bearerToken, requireBearer } from "@sts/grpc";
import { verifyInbound } from "./inbound.js";
import type { InboundOptions } from "./inbound.js";
import { ERROR_METADATA, statusFromOAuthError } from "@sts/grpc";
import { isBareOrigin, urlOnOrigin } from "./upstream-url.js";
import { MESH_HEADERS, callerHeaders } from "./caller-headers.js";
import { InsufficientScope, insufficientScopeChallenge } from "./resource-refusal.js";
import { MisplacedToken, refuseTokenOutsideAuthorization } from "./token-placement.js";
import { watchCallEnd } from "./call-end.js";

/** Metadata keys the server interceptor sets for the handler (the same names and encoding as the sidecar's headers). */
export const MESH_METADATA = MESH_HEADERS;

function stripMesh(metadata: Metadata): void {
  for (const key of Object.keys(metadata.getMap())) if (key.startsWith("x-mesh-")) metadata.remove(key);
}

/** Verifies inbound calls for this workload (`options.audience`). */
export function meshServerInterceptor(options: InboundOptions): ServerInterceptor {
  return (_method, call) =>
    new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const header = metadata.get("authorization")[0];
            Promise.resolve()
              .then(() => verifyInbound(requireBearer(typeof header === "string" ? header : undefined, "a bearer token is required"), options))
              .then((caller) => {
                // Built before anything is passed on: a failure here (an id no header can carry) refuses the call like any other.
                const headers = Object.entries(callerHeaders(caller));
                stripMesh(metadata);
                for (const [key, value] of headers) metadata.set(key, value);
                nextMetadata(metadata);
              })
              .catch((err: unknown) => call.sendStatus(inboundRefusal(toOAuthError(err))));
          },
        });
      },
    });
}

/**
 * The status a refused inbound call gets: UNAUTHENTICATED with a Bearer challenge for a bad token (RFC 6750 §3),
 * whose challenge names no error when the call carried no bearer credential at all (§3.1: the caller may not have
 * known one was needed), as the sidecar's is; UNAVAILABLE when the verifier cannot vouch for any token now
 * (revocations too stale: the caller may retry, its token is not at fault), INTERNAL for our own failure.
 */
function inboundRefusal(e: OAuthError): StatusObject {
  if (e.code === "server_error" || e.code === "temporarily_unavailable") return statusFromOAuthError(e);
  const refusal = statusFromOAuthError(new OAuthError("invalid_token", e.description));
  refusal.metadata.set("www-authenticate", bearerChallenge(e));
  return refusal;
}

/**
 * The Bearer challenge to a refused credential (RFC 6750 §3): naming no error when none was sent at all (§3.1),
 * `insufficient_scope` with the scopes asked for when the token is short of them, else `invalid_token`, with the
 * description when given (HTTP only: gRPC metadata carries it in `oauth-error-description`).
 */
export function bearerChallenge(e: unknown, description?: string): string {
  if (e instanceof NoBearerCredential) return `Bearer realm="mesh"`;
  if (e instanceof InsufficientScope) return insufficientScopeChallenge(e);
  return description === undefined ? `Bearer error="invalid_token"` : `Bearer error="invalid_token", error_description="${description}"`;
}

/** Where a client interceptor sends calls. */
export interface OutboundRoute {
  audience: string;
  scopes: readonly string[];
}

/**
 * Swaps the `authorization` bearer token the application set (the token its
 * own caller presented) for an exchanged one. A call without a token fails
 * with UNAUTHENTICATED and never leaves with a broader token. `tokenOptions.revocations`
 * keeps a revoked cached token from being sent (see {@link ExchangeCache.tokenFor}).
 * A call whose deadline passes, or which is cancelled, while its token is
 * being exchanged ends then, as it would without the interceptor.
 */
export function meshClientInterceptor(exchange: ExchangeCache, route: OutboundRoute, tokenOptions: TokenForOptions = {}): Interceptor {
  return (options, nextCall) => {
    const call = nextCall(options);
    /** Set once the call is passed on with its exchanged token, or ended here: whichever comes first wins. */
    let settled = false;
    let ending: (refusal: StatusObject) => void = () => {};
    return new InterceptingCall(call, {
      start(metadata, listener, next) {
        // grpc-js times the call from now, but the status of a call that ends before it is started reaches no one.
        const watch = watchCallEnd(options, (ended) => end(ended));
        const end = (refusal: StatusObject): void => {
          if (settled) return;
          settled = true;
          watch.stop();
          // The call below was made, and its channel counts it (and keeps its deadline timer) until it ends: a refused
          // call never started must still be ended, or each refusal would be held, and the channel kept busy, for good.
          call.cancelWithStatus(refusal.code, refusal.details);
          // Never from within the call method itself, as grpc-js never does: a stream's 'error' would find no
          // listener yet and throw out of the method, and a unary callback would run before the method returned.
          process.nextTick(() => listener.onReceiveStatus(refusal));
        };
        ending = end;
        if (watch.ended) return;
        const header = metadata.get("authorization")[0];
        const token = bearerToken(typeof header === "string" ? header : undefined);
        if (!token) {
          end(outboundRefusal(new OAuthError("invalid_token", "no inbound bearer token to exchange")));
          return;
        }
        try {
          // The call's own method is no place for a token; its metadata might be (a propagated cookie, a custom key).
          refuseTokenOutsideAuthorization(token, "", metadata.toJSON());
        } catch (err) {
          end(outboundRefusal(toOAuthError(err)));
          return;
        }
        exchange.tokenFor(token, route.audience, route.scopes, tokenOptions).then(
          (exchanged) => {
            // Ended meanwhile, or just now (its deadline passed while the answer was on its way): never started.
            if (settled || watch.stopUnlessEnded()) return;
            settled = true;
            metadata.set("authorization", `Bearer ${exchanged.accessToken}`);
            next(metadata, listener);
          },
          (err: unknown) => end(outboundRefusal(toOAuthError(err))),
        );
      },
      cancel(next) {
        // Cancelled while its token is exchanged: the call was never started, so its own status would be lost.
        if (!settled) ending({ code: status.CANCELLED, details: "Cancelled on client", metadata: new Metadata() });
        next();
      },
    });
  };
}

/** What the caller learns when the exchanger refused this workload's own client, or failed itself: nothing it could act on. */
export const EXCHANGE_FAILED = "the token exchange for this call failed";

/**
 * The gRPC status of a call refused for want of a usable token, by what was at fault (the sidecar's gRPC listeners
 * answer the same). The inbound token (revoked, malformed, or refused by the exchanger as subject_token, RFC 8693
 * §2.2.2): UNAUTHENTICATED. This workload's own client credentials (invalid_client, unauthorized_client) or a failure
 * of ours: INTERNAL with a generic message, since no caller can mend it and its details are the operator's. Revocations
 * too stale to vouch for any token: UNAVAILABLE (a retry may pass). The policy refusing the hop, or the peer not
 * allowed: PERMISSION_DENIED. A token where no token may go ({@link MisplacedToken}): INVALID_ARGUMENT.
 */
export function refusalStatus(e: OAuthError): { code: status; details: string } {
  // The workload's own call put the token where it may not go: its request is at fault, not its token.
  if (e instanceof MisplacedToken) return { code: status.INVALID_ARGUMENT, details: e.description };
  switch (e.code) {
    case "invalid_token":
    case "invalid_request":
      return { code: status.UNAUTHENTICATED, details: e.description };
    case "invalid_client":
    case "unauthorized_client":
    case "server_error":
      return { code: status.INTERNAL, details: EXCHANGE_FAILED };
    case "temporarily_unavailable":
      return { code: status.UNAVAILABLE, details: e.description };
    default:
      return { code: status.PERMISSION_DENIED, details: e.description };
  }
}

/** The status of an outbound call whose exchange failed ({@link refusalStatus}), with the OAuth code in the metadata. */
function outboundRefusal(e: OAuthError): StatusObject {
  const metadata = new Metadata();
  metadata.set(ERROR_METADATA.CODE, e.code);
  // The exchanger's own hint (its policy service away, a gate shedding load), passed on as statusFromOAuthError does.
  if (e.retryAfter !== undefined) metadata.set(ERROR_METADATA.RETRY_AFTER, String(e.retryAfter));
  if (e instanceof InsufficientScope) metadata.set("www-authenticate", bearerChallenge(e));
  return { ...refusalStatus(e), metadata };
}

/**
 * A fetch for outbound HTTP calls: the same swap, and the same token options, as the client interceptor. `route.url`
 * is the destination's origin (scheme, host, port); each call's own path goes on it.
 */
export function meshFetch(
  exchange: ExchangeCache,
  route: OutboundRoute & { url: string },
  tokenOptions: TokenForOptions = {},
): (path: string, subjectToken: string, init?: RequestInit) => Promise<Response> {
  // Refused when made, not at the first call: a path here would be dropped, and calls would leave the prefix it names.
  if (!isBareOrigin(route.url)) throw new TypeError("meshFetch: route.url must be an http(s) origin, with no path, query, fragment or userinfo");
  return async (path, subjectToken, init = {}) => {
    const headers = new Headers(init.headers);
    // Before the exchange: a call that is refused anyway (a target that is no path on the route's origin, the inbound
    // token where it would reach the destination) costs the STS nothing, and leaves no token minted and recorded in
    // the audit trail for a call that never went out.
    const url = urlOnOrigin(route.url, path);
    refuseTokenOutsideAuthorization(subjectToken, path, Object.fromEntries(headers));
    // A call its caller already gave up on mints nothing, as fetch itself would send nothing.
    init.signal?.throwIfAborted();
    const exchanged = await exchange.tokenFor(subjectToken, route.audience, route.scopes, tokenOptions);
    headers.set("authorization", `Bearer ${exchanged.accessToken}`);
    return fetch(url, { ...init, headers });
  };
}
