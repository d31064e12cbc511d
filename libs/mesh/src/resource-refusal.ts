/**
 * The exchanger's verdicts on the token a workload sends out (through its sidecar's outbound listener, or the
 * in-process interceptor and fetch), answered as a resource server answers them (RFC 6750 §3.1), not as a token
 * endpoint does: the workload sent a bearer token with a request, and RFC 8693's codes are for the client of a token
 * endpoint, which the workload is not.
 * - The subject token refused (RFC 8693 §2.2.2 `invalid_request`): the token is what is wrong, `invalid_token`, 401.
 *   Left as it came, the body would say `invalid_request` under a 401 whose challenge says `invalid_token`.
 * - The token not enough for the route (`invalid_scope`: none of the route's scopes is within it; `invalid_target`:
 *   the policy allows no such hop for it): `insufficient_scope`, 403, with the challenge that RFC 6750 §3 requires of
 *   a refusal for want of a token that "enables access", naming the scopes the route asks for.
 */
import { OAuthError } from "@sts/errors";

/** A token that does not carry the privileges a route asks for: RFC 6750 §3.1 `insufficient_scope`, 403 (gRPC PERMISSION_DENIED). */
export class InsufficientScope extends OAuthError {
  /** The scopes the route asks for (RFC 6750 §3 `scope` attribute). */
  readonly scope: readonly string[];

  constructor(description: string, scope: readonly string[], cause: unknown) {
    super("insufficient_scope", description, { cause });
    this.scope = scope;
  }
}

/** The exchanger's refusal `err` of a token presented for a route asking for `scopes`, as the workload must receive it. */
export function asResourceRefusal(err: unknown, scopes: readonly string[]): unknown {
  if (!(err instanceof OAuthError)) return err;
  switch (err.code) {
    case "invalid_request":
      return new OAuthError("invalid_token", err.description, { cause: err });
    case "invalid_scope":
    case "invalid_target":
      return new InsufficientScope(err.description, scopes, err);
    default:
      return err;
  }
}

/** The Bearer challenge of an {@link InsufficientScope} refusal (RFC 6750 §3); scope tokens hold no `"` or `\` (RFC 6749 §3.3). */
export function insufficientScopeChallenge(e: InsufficientScope): string {
  const scope = e.scope.length > 0 ? `, scope="${e.scope.join(" ")}"` : "";
  return `Bearer error="insufficient_scope", error_description="${e.description}"${scope}`;
}
