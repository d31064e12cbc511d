/**
 * private_key_jwt (RFC 7523 §2.2, RFC 7521 §4.2) and the signed-assertion
 * checks shared with the jwt-bearer grant (RFC 7523 §2.1). The assertion is
 * verified with the client's registered keys (jwks, or jwks_uri fetched and
 * cached by jose, refetched on an unknown kid with a cooldown), an algorithm
 * allow-list, `aud` = the token endpoint or the issuer identifier as its
 * sole value, a bounded `exp`, an optional `iat` (RFC 7523 §3: MAY) that is
 * not in the future, and a single-use `jti`. The jti is recorded only after every other
 * check passed (a forged assertion cannot burn a jti), with a KV create that
 * fails when present, so single use holds across replicas.
 */
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, decodeProtectedHeader } from "jose";
import type { JWTVerifyGetKey } from "jose";
import { OAuthError, unavailable } from "@sts/errors";
import { TokenRejected, precheckCompactJwt, verifyJwt } from "@sts/jwt";
import type { ClientRecord } from "./client-record.js";

/** Algorithms accepted for client-signed assertions: never `none`, never HMAC. */
export const ASSERTION_ALGS = ["ES256", "ES384", "EdDSA", "RS256", "PS256"] as const;

/** Records a (client, jti) pair once; false when it was already there. */
export type JtiRecorder = (clientId: string, jti: string, exp: number) => Promise<boolean>;

/** What assertion checks need. */
export interface AssertionDeps {
  lookup: (clientId: string) => ClientRecord | undefined;
  recordJti: JtiRecorder;
  /** Accepted `aud` values (the token endpoint URL and the issuer identifier); the assertion must name exactly one. */
  audiences: readonly string[];
  now: () => number;
  /** Largest `exp - now` accepted. */
  maxLifetime: number;
  clockTolerance: number;
  maxBytes: number;
}

/** Claims of a verified assertion. */
export interface VerifiedAssertion {
  clientId: string;
  sub: string;
  jti: string;
  exp: number;
  payload: Record<string, unknown>;
}

/** Remote key sets, one per jwks_uri; bounded, since clients register their own URLs. */
const remoteSets = new Map<string, JWTVerifyGetKey>();
const MAX_REMOTE_SETS = 1000;

/** The client's key resolver; jwks_uri sets are cached per URL. */
function keysOf(client: ClientRecord): { resolver: JWTVerifyGetKey; count: number | undefined } {
  if (client.jwks) return { resolver: createLocalJWKSet(client.jwks), count: client.jwks.keys.length };
  if (client.jwks_uri) {
    let set = remoteSets.get(client.jwks_uri);
    if (!set) {
      set = createRemoteJWKSet(new URL(client.jwks_uri), { cooldownDuration: 30_000, cacheMaxAge: 600_000, timeoutDuration: 3_000 });
      if (remoteSets.size >= MAX_REMOTE_SETS) remoteSets.delete(remoteSets.keys().next().value as string);
      remoteSets.set(client.jwks_uri, set);
    }
    return { resolver: set, count: undefined };
  }
  throw new TokenRejected("unknown_key", "client has no registered keys");
}

/**
 * Verifies a client-signed assertion; `fail` makes the positional error
 * (invalid_client for client_assertion, invalid_grant for a grant assertion).
 * With requireSubIsIssuer, `sub` must equal `iss` (client authentication).
 */
export async function verifyClientSignedAssertion(
  assertion: string,
  deps: AssertionDeps,
  fail: (description: string, cause?: unknown) => OAuthError,
  options: { requireSubIsIssuer: boolean; expectedClientId?: string },
): Promise<VerifiedAssertion> {
  let clientId: string;
  let client: ClientRecord | undefined;
  let verified: VerifiedAssertion;
  try {
    precheckCompactJwt(assertion, deps.maxBytes);
    const unverified = decodeJwt(assertion);
    if (typeof unverified.iss !== "string" || !unverified.iss) throw new TokenRejected("missing_claim", "iss is required");
    clientId = unverified.iss;
    if (options.expectedClientId && options.expectedClientId !== clientId) throw new TokenRejected("invalid_claim", "iss does not match client_id");
    client = deps.lookup(clientId);
    if (!client) throw new TokenRejected("unknown_key", "unknown client");
    const { resolver, count } = keysOf(client);
    // RFC 7515 §4.1.4: with several keys, kid picks the key; without it the choice would be a guess.
    if (count !== undefined && count > 1 && !decodeProtectedHeader(assertion).kid)
      throw new TokenRejected("unknown_key", "kid is required when several keys are registered");
    const { payload } = await verifyJwt(assertion, {
      key: resolver,
      algorithms: ASSERTION_ALGS,
      issuer: clientId,
      audience: deps.audiences,
      requiredClaims: ["iss", "sub", "aud", "exp", "jti"],
      clockTolerance: deps.clockTolerance,
      now: deps.now,
      maxBytes: deps.maxBytes,
    });
    // Audience injection (OpenID Foundation disclosure, January 2025; draft-ietf-oauth-rfc7523bis): an assertion a
    // client signed with several audiences can be replayed to any of them. Only one audience, one of ours, is taken.
    if (Array.isArray(payload.aud) && payload.aud.length !== 1) throw new TokenRejected("audience", "aud must be a single value");
    if (typeof payload.sub !== "string" || !payload.sub) throw new TokenRejected("invalid_claim", "sub is required");
    if (options.requireSubIsIssuer && payload.sub !== clientId) throw new TokenRejected("invalid_claim", "sub must equal iss");
    if (typeof payload.jti !== "string" || !payload.jti || payload.jti.length > 256) throw new TokenRejected("invalid_claim", "jti is required");
    const exp = payload.exp as number;
    if (exp - deps.now() > deps.maxLifetime) throw new TokenRejected("invalid_claim", "exp is too far in the future");
    verified = { clientId, sub: payload.sub, jti: payload.jti, exp, payload: payload };
  } catch (err) {
    if (err instanceof OAuthError) throw err;
    throw fail(err instanceof TokenRejected ? `assertion rejected: ${err.message}` : "assertion rejected", err);
  }
  let fresh: boolean;
  try {
    fresh = await deps.recordJti(clientId, verified.jti, verified.exp);
  } catch (err) {
    // Replay checks are never skipped because the store is down.
    throw unavailable("replay cache unavailable", err);
  }
  if (!fresh) throw fail("assertion replayed (jti already used)");
  return verified;
}
