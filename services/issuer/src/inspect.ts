/**
 * Resolves a presented token (JWT or opaque) to its claims when it is one of
 * ours and still active. Used by introspection and revocation, where a bad
 * token is not an error: introspection answers inactive (RFC 7662 §2.2) and
 * revocation does nothing (RFC 7009 §2.2).
 */
import { TokenRejected, isTokenRevoked, verifyAccessToken } from "@sts/jwt";
import type { AccessTokenClaims } from "@sts/jwt";
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

/** Claims of an active token of ours, or undefined. */
export async function inspectToken(token: string, deps: InspectDeps): Promise<AccessTokenClaims | undefined> {
  if (token.length === 0 || token.length > deps.maxBytes) return undefined;
  if (token.startsWith(OPAQUE_PREFIX)) {
    const claims = await deps.opaque.resolve(token);
    if (!claims) return undefined;
    const now = deps.now();
    if (claims.exp <= now || isTokenRevoked(claims, deps.revocations)) return undefined;
    return claims;
  }
  try {
    const { payload } = await verifyAccessToken(token, {
      key: deps.keys.keyResolver(),
      algorithms: deps.algorithms,
      issuer: deps.issuer,
      clockTolerance: deps.clockTolerance,
      now: deps.now,
      maxBytes: deps.maxBytes,
      revocations: deps.revocations,
    });
    return payload;
  } catch (err) {
    if (err instanceof TokenRejected) return undefined;
    throw err;
  }
}
