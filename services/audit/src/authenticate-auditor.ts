/**
 * Who is reading the audit trail. An auditor is a client of this stack and
 * presents one of its access tokens that names the audit API's audience and
 * carries its scope (checked as @sts/mesh's callerAuthenticator checks every
 * operator API): the read is then recorded under the token's `sub`,
 * `client_id` and `jti`. The shared STS_AUDIT_TOKEN stays as a break-glass
 * credential (for when the issuer cannot issue), accepted and recorded as
 * such, never as a person. A call with no credential at all is refused,
 * unless `audit.allow_anonymous` says to answer it as anonymous (a local
 * stack) and there is no break-glass credential.
 */
import type { Metadata } from "@grpc/grpc-js";
import { callerAuthenticator } from "@sts/mesh";
import type { CallerIdentity, InboundOptions } from "@sts/mesh";

/** The caller of an audit call, as its read is recorded. */
export type Auditor = CallerIdentity;

/** Options of {@link auditorAuthenticator}. */
export interface AuditorAuthOptions {
  /** STS_AUDIT_TOKEN, if set. */
  breakGlassToken: string | undefined;
  /** `audit.allow_anonymous`: without a break-glass credential, answer a call with no credential at all as anonymous. */
  allowAnonymous: boolean;
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
  const authenticate = callerAuthenticator({
    breakGlassToken: o.breakGlassToken,
    anonymousWithoutBreakGlass: o.allowAnonymous,
    tokens: o.tokens,
    holder: "an auditor's",
  });
  const scopes = [o.scope];
  return (metadata) => authenticate(metadata, scopes);
}
