/**
 * Resolves a presented token (JWT or opaque) to its claims when it is one of
 * ours and still active. Used by introspection and revocation, where a bad
 * token is not an error: introspection answers inactive (RFC 7662 §2.2) and
 * revocation does nothing (RFC 7009 §2.2).
 */
import { TokenRejected, isTokenRevoked, revocableClaimsOf, verifyAccessToken } from "@sts/jwt";
import type { AccessTokenClaims, RevocationLookups } from "@sts/jwt";
import type { PublicKeyRing } from "@sts/keys";
import type { RevocationList } from "@sts/revocation";
import type { OpaqueTokens } from "./opaque-tokens.js";
import { OPAQUE_PREFIX } from "./opaque-tokens.js";

/** What inspection needs. */
export interface InspectDeps {
  issuer: string;
  keys: PublicKeyRing;
  algorithms: readonly string[];
  revocations: RevocationList;
  opaque: OpaqueTokens;
  now: () => number;
  clockTolerance: number;
  maxBytes: number;
}

/**
 * Claims of an active token of ours, or undefined. Active means within the token's own time window by this server's
 * clock (RFC 7662 §2.2; RFC 6750 §3.1 names an expired token invalid_token): the clock tolerance a verifier grants
 * another party's clock gives no token of ours more life at the issuer itself (UserInfo, client management), as an
 * opaque token, whose claims only this server reads, never had. With `ignoringOwnRevocation`, a token that the record
 * revoking its own jti (RFC 7009) is all that ends counts as active: what a retry of that revocation is about (its
 * event may not be stored yet); a JWT past its exp still counts there while verifiers elsewhere accept it within their
 * tolerance, so it can still be revoked. A token ended otherwise (its subject, an ancestor or its key revoked) never is.
 */
export async function inspectToken(token: string, deps: InspectDeps, ignoringOwnRevocation = false): Promise<AccessTokenClaims | undefined> {
  if (token.length === 0 || token.length > deps.maxBytes) return undefined;
  if (token.startsWith(OPAQUE_PREFIX)) {
    const claims = await deps.opaque.resolve(token);
    if (!claims) return undefined;
    const now = deps.now();
    const revocations = ignoringOwnRevocation ? exceptRecordOf(claims.jti, deps.revocations) : deps.revocations;
    if (claims.exp <= now || isTokenRevoked(claims, revocations)) return undefined;
    return claims;
  }
  try {
    // The jti read before the signature only picks the one record not to count; the verified token must carry it.
    const own = ignoringOwnRevocation ? revocableClaimsOf(token)?.jti : undefined;
    if (ignoringOwnRevocation && !own) return undefined;
    const { payload } = await verifyAccessToken(token, {
      key: deps.keys.keyResolver(),
      algorithms: deps.algorithms,
      issuer: deps.issuer,
      clockTolerance: deps.clockTolerance,
      now: deps.now,
      maxBytes: deps.maxBytes,
      revocations: own ? exceptRecordOf(own, deps.revocations) : deps.revocations,
    });
    if (own !== undefined) return payload.jti === own ? payload : undefined;
    return payload.exp > deps.now() ? payload : undefined;
  } catch (err) {
    if (err instanceof TokenRejected) return undefined;
    throw err;
  }
}

/** Every revocation lookup as `revocations` makes it, except the record that revokes the token id `jti` itself. */
function exceptRecordOf(jti: string, revocations: RevocationLookups): RevocationLookups {
  return {
    isRevoked: (id) => id !== jti && revocations.isRevoked(id),
    subjectRevokedAt: (iss, sub) => revocations.subjectRevokedAt(iss, sub),
    isKeyWithdrawn: (iss, kid) => revocations.isKeyWithdrawn(iss, kid),
  };
}
