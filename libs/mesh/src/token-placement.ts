/**
 * Where a bearer token may travel. RFC 6750 §2 gives three ways to send one
 * and a client "MUST NOT use more than one method" per request; this mesh
 * reads only the Authorization header (§2.1). So:
 * - inbound, an `access_token` query parameter (§2.3) next to the header is a
 *   second credential the sidecar never verified: passed on, a workload (or a
 *   framework that reads tokens from the query, as Envoy's jwt_authn does by
 *   default) could take it for the verified one. Refused, §3.1
 *   `invalid_request`.
 * - outbound, the token a workload received may leave only as the subject of
 *   an exchange: found anywhere else in the call (a cookie, the query, a
 *   custom header a framework propagates), it would reach the destination,
 *   which could then act as the workload's caller. Refused before any
 *   exchange, rather than cut out of a header whose meaning would change.
 */
import { OAuthError } from "@sts/errors";

/** RFC 6750 §2.3's query parameter. */
const QUERY_PARAMETER = "access_token";

/** A request that carries a bearer token where none may travel: RFC 6750 §3.1 `invalid_request`, 400 (gRPC INVALID_ARGUMENT). */
export class MisplacedToken extends OAuthError {
  constructor(description: string) {
    super("invalid_request", description);
  }
}

/** Refuses a request target with an RFC 6750 §2.3 `access_token` query parameter (any case of its percent-encoding). */
export function refuseQueryToken(target: string): void {
  const query = target.indexOf("?");
  if (query === -1) return;
  if (new URLSearchParams(target.slice(query + 1)).has(QUERY_PARAMETER)) {
    throw new MisplacedToken("send the access token in the Authorization header only (RFC 6750 section 2.1), not as a query parameter");
  }
}

/** The target with its percent-encoding undone (`%41` is `A` to the destination too), or undefined when it is malformed. */
function decoded(target: string): string | undefined {
  try {
    return decodeURIComponent(target);
  } catch {
    return undefined;
  }
}

/**
 * Refuses an outbound call whose target or whose headers (all but the Authorization header that the exchanged token
 * replaces) still carry `token`, the one the workload received.
 */
export function refuseTokenOutsideAuthorization(token: string, target: string, headers: Readonly<Record<string, unknown>>): void {
  const leaks = (value: unknown): boolean => (Array.isArray(value) ? value.some(leaks) : typeof value === "string" && value.includes(token));
  const found =
    leaks(target) || leaks(decoded(target)) || Object.entries(headers).some(([name, value]) => name.toLowerCase() !== "authorization" && leaks(value));
  if (found) throw new MisplacedToken("the inbound access token may leave only in the Authorization header, where it is exchanged");
}
