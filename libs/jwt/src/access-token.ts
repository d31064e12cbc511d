/**
 * Verification of access tokens issued by this stack (RFC 9068 profile):
 * signature, issuer, type, the claims the profile requires, the shape of
 * `act` and `scope`, and revocation: of its jti, of any token of ours it was
 * exchanged from (its `lineage` claim), or of its subject (isTokenRevoked),
 * or of the key that signed it or any token it was exchanged from (withdrawn
 * by an operator: its kid, its `lineage_kids`).
 */
import { audienceList, isActClaim, isIssSubFor, isLineage, isLineageKids, isOriginClientId, isOriginIat, isTokenRevoked } from "./claims.js";
import type { AccessTokenClaims, RevocationState } from "./claims.js";
import { ACCESS_TOKEN_TYP } from "./token-types.js";
import { TokenRejected, verifyJwt } from "./verify.js";
import type { VerifyJwtOptions } from "./verify.js";
import type { VerifiedTokens } from "./verified-tokens.js";

/** Options: verifyJwt's, minus what the profile fixes, plus a revocation check. */
export interface VerifyAccessTokenOptions extends Omit<VerifyJwtOptions, "typ" | "requiredClaims"> {
  /** The revocations (tokens and subjects) the token is checked against. */
  revocations: RevocationState;
  /** Largest act chain accepted (bounded before any policy looks at it). */
  maxActDepth?: number;
  /**
   * Tokens verified before (exact string). A hit skips the signature and
   * claim checks; revocation, expiry and the audience are still checked.
   */
  verified?: VerifiedTokens;
  /** The profile the token must follow; this stack's own (RFC 9068) unless a trusted issuer's is given. */
  profile?: TokenProfile;
}

/** What a token must look like beyond its signature: `typ` values and required claims. */
export interface TokenProfile {
  typ: string | readonly string[];
  requiredClaims: readonly string[];
}

/** This stack's access tokens: RFC 9068 with `client_id`. */
export const OWN_PROFILE: TokenProfile = { typ: ACCESS_TOKEN_TYP, requiredClaims: ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"] };

/**
 * Another issuer's access tokens: RFC 9068 claims but `client_id`, which
 * many identity providers put in `azp` instead; `typ` as configured.
 */
export function foreignProfile(typ: string | readonly string[]): TokenProfile {
  return { typ, requiredClaims: ["iss", "sub", "aud", "exp", "iat", "jti"] };
}

/** A verified access token: its claims, and the kid of the key that signed it (from the protected header). */
export interface VerifiedAccessToken {
  payload: AccessTokenClaims;
  kid: string | undefined;
}

/** The rejection of a verified token that was revoked, naming it (a revoked token presented is what an auditor looks for). */
function revoked(claims: AccessTokenClaims): TokenRejected {
  return new TokenRejected("revoked", "token revoked", { names: { iss: claims.iss, sub: claims.sub, jti: claims.jti } });
}

/** Verifies one of our access tokens; throws TokenRejected with a stable reason. */
export async function verifyAccessToken(token: string, options: VerifyAccessTokenOptions): Promise<VerifiedAccessToken> {
  const now = options.now();
  const hit = options.verified?.get(token, now);
  const known = hit?.claims;
  // A hit skips the signature, so it must have been verified for this issuer: one cache serves ours and trusted issuers' tokens.
  const expectedIssuers = typeof options.issuer === "string" ? [options.issuer] : options.issuer;
  if (known && !expectedIssuers.includes(known.iss)) throw new TokenRejected("issuer", "untrusted issuer");
  if (known) {
    if (options.audience !== undefined) {
      const wanted = typeof options.audience === "string" ? [options.audience] : options.audience;
      if (!audienceList(known.aud).some((a) => wanted.includes(a))) throw new TokenRejected("audience", "audience mismatch");
    }
    if (known.exp <= now - options.clockTolerance) throw new TokenRejected("expired", "token expired");
    // Its signature was checked while the key stood: a withdrawal since (by kid) must not be skipped with it.
    if (isTokenRevoked(known, options.revocations, hit?.kid)) throw revoked(known);
    return { payload: known, kid: hit?.kid };
  }
  const profile = options.profile ?? OWN_PROFILE;
  const verified = await verifyJwt<AccessTokenClaims>(token, { ...options, typ: profile.typ, requiredClaims: profile.requiredClaims });
  const p = verified.payload;
  if (p.client_id === undefined && profile !== OWN_PROFILE) {
    const azp = (p as { azp?: unknown }).azp;
    p.client_id = typeof azp === "string" ? azp : "";
  }
  if (typeof p.sub !== "string" || typeof p.jti !== "string" || typeof p.client_id !== "string") {
    throw new TokenRejected("invalid_claim", "sub, jti and client_id must be strings");
  }
  // RFC 9068 §2.2.3 says a string; an array is accepted on input (ARCHITECTURE.md token profile).
  const scopeOk = p.scope === undefined || typeof p.scope === "string" || (Array.isArray(p.scope) && p.scope.every((s) => typeof s === "string"));
  if (!scopeOk) throw new TokenRejected("invalid_claim", "scope must be a string or an array of strings");
  // A security event token (RFC 8417: a back-channel logout token, typed plain JWT by older providers) says something
  // happened; it grants nothing, whoever signed it.
  if ((p as { events?: unknown }).events !== undefined) throw new TokenRejected("type", "a security event token (a logout token), not an access token");
  if (p.act !== undefined && !isActClaim(p.act, options.maxActDepth ?? 32)) throw new TokenRejected("invalid_claim", "malformed act claim");
  // Our own sub_id says who vouched for the subject; one that says nothing clearly must not read as "ours".
  if (profile === OWN_PROFILE && p.sub_id !== undefined && !isIssSubFor(p.sub_id, p.sub)) throw new TokenRejected("invalid_claim", "malformed sub_id claim");
  if (profile !== OWN_PROFILE) {
    // Another issuer's `lineage` means whatever it means there: never read as jtis of ours. Its `sub_id` is its word,
    // not ours: the subject it vouches for is its own `sub` (and so is the subject a revocation of it names).
    delete p.lineage;
    delete p.sub_id;
    delete p.origin_iat;
    delete p.origin_client_id;
    delete p.lineage_kids;
  } else if (p.lineage !== undefined && !isLineage(p.lineage)) {
    // Bounded as Mint bounds it, not by the act depth: an actor token's lineage merged in makes it longer than the chain.
    throw new TokenRejected("invalid_claim", "malformed lineage claim");
  } else if (p.origin_iat !== undefined && !isOriginIat(p.origin_iat, p.iat)) {
    // Refused rather than read as absent: an origin_iat read wrongly would let a token outrun its subject's revocation.
    throw new TokenRejected("invalid_claim", "malformed origin_iat claim");
  } else if (p.origin_client_id !== undefined && !isOriginClientId(p.origin_client_id)) {
    // Likewise: read as absent, it would let the chain outrun the revocation of the client it began with.
    throw new TokenRejected("invalid_claim", "malformed origin_client_id claim");
  } else if (p.lineage_kids !== undefined && !isLineageKids(p.lineage_kids)) {
    // Likewise: read as absent, it would let the token outlive the withdrawal of a key that signed its ancestors.
    throw new TokenRejected("invalid_claim", "malformed lineage_kids claim");
  }
  // Our signer always names its key. Without a kid, jose takes the JWKS's only key of that alg, and a withdrawal,
  // recorded by kid, could not be told apart: a thief holding a withdrawn key would leave the kid out.
  const kid = verified.header.kid;
  if (profile === OWN_PROFILE && typeof kid !== "string") throw new TokenRejected("unknown_key", "no kid in the header");
  // With the kid: a key withdrawn by the issuer may still be in a verifier's cached JWKS (a sidecar's, the policy
  // API's), and the revocations say so at once.
  if (isTokenRevoked(p, options.revocations, kid)) throw revoked(p);
  options.verified?.set(token, p, now, kid);
  return { payload: p, kid };
}
