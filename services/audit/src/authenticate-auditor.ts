/**
 * Who is reading the audit trail. An auditor is a client of this stack and
 * presents one of its access tokens, verified as every verifier here does
 * (signature against the issuer's JWKS, `iss`, `typ: at+jwt`, `exp`, not
 * revoked, nor any token it was exchanged from), that names the audit API's
 * audience and carries its scope: the read is then recorded under the
 * token's `sub`, `client_id` and `jti`. The shared STS_AUDIT_TOKEN stays as
 * a break-glass credential (for when the issuer cannot issue), accepted and
 * recorded as such, never as a person.
 */
import type { Metadata } from "@grpc/grpc-js";
import { OAuthError } from "@sts/errors";
import { hasBearerSecret } from "@sts/grpc";
import { bearerToken, verifyInbound } from "@sts/mesh";
import type { InboundOptions } from "@sts/mesh";

/** How a caller proved who it is. */
export const CREDENTIALS = { ACCESS_TOKEN: "access_token", BREAK_GLASS: "break_glass", NONE: "none" } as const;
/** One way of proving it. */
export type Credential = (typeof CREDENTIALS)[keyof typeof CREDENTIALS];

/** The caller of an audit call, as its read is recorded. */
export interface Auditor {
  credential: Credential;
  /** The token's `sub`; "break-glass" or "anonymous" without a token. */
  sub: string;
  /** The token's `client_id`; empty without a token. */
  client_id: string;
  /** The token's `jti`; empty without a token. */
  jti: string;
}

const BREAK_GLASS: Auditor = { credential: CREDENTIALS.BREAK_GLASS, sub: "break-glass", client_id: "", jti: "" };
const ANONYMOUS: Auditor = { credential: CREDENTIALS.NONE, sub: "anonymous", client_id: "", jti: "" };

/** Options of {@link auditorAuthenticator}. */
export interface AuditorAuthOptions {
  /** STS_AUDIT_TOKEN. Without it, a call with no credential at all is answered as anonymous (a local stack). */
  breakGlassToken: string | undefined;
  /** How access tokens are verified; `audience` is `audit.api_audience`. */
  tokens: InboundOptions;
  /** `audit.api_scope`: the scope a token must carry. */
  scope: string;
}

/**
 * Makes the check that names the caller of an audit call, or refuses it:
 * invalid_token (UNAUTHENTICATED) for a missing or bad credential,
 * insufficient_scope (PERMISSION_DENIED) for a good token without the scope.
 */
export function auditorAuthenticator(o: AuditorAuthOptions): (metadata: Metadata) => Promise<Auditor> {
  return async (metadata) => {
    const header = metadata.get("authorization")[0];
    if (header === undefined && o.breakGlassToken === undefined) return ANONYMOUS;
    if (o.breakGlassToken !== undefined && hasBearerSecret(metadata, o.breakGlassToken)) return BREAK_GLASS;
    // A credential that was presented is always checked, open stack or not: a read is never recorded under a name
    // nobody proved, and a bad token is not quietly taken as no token.
    const token = typeof header === "string" ? bearerToken(header) : undefined;
    if (token === undefined) throw new OAuthError("invalid_token", "this call needs an auditor's access token as a bearer");
    const caller = await verifyInbound(token, o.tokens);
    // RFC 6750 §3.1: a valid token without the scope the resource needs.
    if (!caller.scopes.includes(o.scope)) throw new OAuthError("insufficient_scope", `this call needs the ${o.scope} scope`);
    return { credential: CREDENTIALS.ACCESS_TOKEN, sub: caller.sub, client_id: caller.claims.client_id, jti: caller.claims.jti };
  };
}
