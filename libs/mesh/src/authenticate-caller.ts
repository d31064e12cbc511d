/**
 * Who is calling an operator API of the stack (the audit trail, the policy
 * store). A person is a client of this stack and presents one of its access
 * tokens, verified as every verifier here does (signature against the
 * issuer's JWKS, `iss`, `typ: at+jwt`, `exp`, not revoked, nor any token it
 * was exchanged from), that names the API's audience and carries a scope the
 * call needs: the call is then recorded under the token's `sub`, `client_id`
 * and `jti`. A token obtained by token exchange (RFC 8693, with an `act`
 * claim) is refused: its `sub` is the user it was exchanged from, so the
 * workload holding it would act, and be recorded, as that person. So is any
 * token whose `sub` is not its `client_id`: the jwt-bearer grant and the
 * dedicated token issuer give a client tokens for a user, without `act`, and
 * the workload holding one would be recorded as that user. An operator's own
 * client_credentials token names its client as `sub`. A shared
 * secret may stay as a break-glass credential (for when the issuer cannot
 * issue), accepted and recorded as such, never as a person.
 */
import type { Metadata } from "@grpc/grpc-js";
import { OAuthError } from "@sts/errors";
import { hasBearerSecret } from "@sts/grpc";
import { bearerToken } from "@sts/grpc";
import { verifyInbound } from "./inbound.js";
import type { InboundOptions } from "./inbound.js";

/** How a caller proved who it is. */
export const CREDENTIALS = { ACCESS_TOKEN: "access_token", BREAK_GLASS: "break_glass", NONE: "none" } as const;
/** One way of proving it. */
export type Credential = (typeof CREDENTIALS)[keyof typeof CREDENTIALS];

/** A caller as its call is recorded: who, never the credential itself. */
export interface CallerIdentity {
  credential: Credential;
  /** The token's `sub`; "break-glass" or "anonymous" without a token. */
  sub: string;
  /** The token's `client_id`; empty without a token. */
  client_id: string;
  /** The token's `jti`; empty without a token. */
  jti: string;
}

const BREAK_GLASS: CallerIdentity = { credential: CREDENTIALS.BREAK_GLASS, sub: "break-glass", client_id: "", jti: "" };
const ANONYMOUS: CallerIdentity = { credential: CREDENTIALS.NONE, sub: "anonymous", client_id: "", jti: "" };

/** Options of {@link callerAuthenticator}. */
export interface CallerAuthOptions {
  /** The shared break-glass secret (a service's env), if it has one. */
  breakGlassToken: string | undefined;
  /**
   * With no break-glass secret configured, a call that presents no credential
   * at all is let in as anonymous (true: the audit API of a local stack) or
   * refused (false).
   */
  anonymousWithoutBreakGlass: boolean;
  /** How access tokens are verified; `audience` is the API's. */
  tokens: InboundOptions;
  /** Whose token the API wants, for the refusal: "an auditor's". */
  holder: string;
}

/** Names the caller of a call that any of `scopes` grants, or refuses it. */
export type AuthenticateCaller = (metadata: Metadata, scopes: readonly string[]) => Promise<CallerIdentity>;

/**
 * Makes the check that names the caller of an operator call, or refuses it:
 * invalid_token (UNAUTHENTICATED) for a missing, bad or delegated credential,
 * insufficient_scope (PERMISSION_DENIED) for a good token with none of the
 * scopes the call takes. The break-glass secret takes every call.
 */
export function callerAuthenticator(o: CallerAuthOptions): AuthenticateCaller {
  return async (metadata, scopes) => {
    const header = metadata.get("authorization")[0];
    if (header === undefined && o.breakGlassToken === undefined && o.anonymousWithoutBreakGlass) return ANONYMOUS;
    if (o.breakGlassToken !== undefined && hasBearerSecret(metadata, o.breakGlassToken)) return BREAK_GLASS;
    // A credential that was presented is always checked, open stack or not: a call is never recorded under a name
    // nobody proved, and a bad token is not quietly taken as no token.
    const token = typeof header === "string" ? bearerToken(header) : undefined;
    if (token === undefined) throw new OAuthError("invalid_token", `this call needs ${o.holder} access token as a bearer`);
    const caller = await verifyInbound(token, o.tokens);
    if (caller.claims.act !== undefined)
      throw new OAuthError("invalid_token", "a delegated token (act) is not accepted here: operators and auditors present their own");
    if (caller.sub !== caller.claims.client_id)
      throw new OAuthError(
        "invalid_token",
        "a token issued to a client for a user is not accepted here: operators and auditors present their own client_credentials tokens",
      );
    // RFC 6750 §3.1: a valid token without the scope the resource needs.
    if (!scopes.some((s) => caller.scopes.includes(s))) throw new OAuthError("insufficient_scope", `this call needs the ${scopes.join(" or ")} scope`);
    return { credential: CREDENTIALS.ACCESS_TOKEN, sub: caller.sub, client_id: caller.claims.client_id, jti: caller.claims.jti };
  };
}
