/**
 * Inbound verification for a workload: a bearer token must be one of ours
 * (signature against the cached JWKS, issuer, `typ`, not expired, not
 * revoked) and name this workload in `aud`. Failures are RFC 6750
 * `invalid_token`.
 */
import { OAuthError } from "@sts/errors";
import { KeySourceUnavailable, TokenRejected, actSubjects, verifyAccessToken } from "@sts/jwt";
import type { AccessTokenClaims, RevocationState, VerifiedTokens } from "@sts/jwt";
import type { JWTVerifyGetKey } from "jose";

/** What verification needs. */
export interface InboundOptions {
  issuer: string;
  /** This workload's audience. */
  audience: string;
  keys: JWTVerifyGetKey;
  /** Revoked tokens and subjects (a watch-fed copy of the revocations bucket). */
  revocations: RevocationState;
  algorithms?: readonly string[];
  clockTolerance?: number;
  maxBytes?: number;
  now?: () => number;
  /** Tokens verified before (exact string): skips the signature check, revocation and expiry are still checked. */
  verified?: VerifiedTokens;
}

/** What the workload learns about a verified caller. */
export interface VerifiedCaller {
  token: string;
  claims: AccessTokenClaims;
  sub: string;
  scopes: string[];
  /** Actor chain subjects, newest first. */
  actors: string[];
}

function caller(token: string, claims: AccessTokenClaims): VerifiedCaller {
  const scopes = typeof claims.scope === "string" ? claims.scope.split(" ").filter(Boolean) : (claims.scope ?? []);
  return { token, claims, sub: claims.sub, scopes, actors: actSubjects(claims.act) };
}

/** Verifies an inbound bearer token for this workload. */
export async function verifyInbound(token: string | undefined, o: InboundOptions): Promise<VerifiedCaller> {
  if (!token) throw new OAuthError("invalid_token", "a bearer token is required");
  try {
    const { payload } = await verifyAccessToken(token, {
      key: o.keys,
      algorithms: o.algorithms ?? ["ES256", "EdDSA", "RS256", "PS256"],
      issuer: o.issuer,
      audience: o.audience,
      clockTolerance: o.clockTolerance ?? 30,
      now: o.now ?? (() => Math.floor(Date.now() / 1000)),
      maxBytes: o.maxBytes ?? 8192,
      revocations: o.revocations,
      ...(o.verified && { verified: o.verified }),
    });
    return caller(token, payload);
  } catch (err) {
    // The issuer's keys out of reach (a new key while the gateway is down) is our outage: retryable, the token not at fault.
    if (err instanceof TokenRejected && err.cause instanceof KeySourceUnavailable) {
      throw new OAuthError("temporarily_unavailable", "the issuer's keys cannot be fetched to verify the token", { cause: err.cause });
    }
    if (err instanceof TokenRejected) throw new OAuthError("invalid_token", `token rejected: ${err.message}`, { cause: err });
    throw err;
  }
}
