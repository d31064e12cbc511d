/**
 * private_key_jwt (RFC 7523 §2.2, RFC 7521 §4.2) and the signed-assertion
 * checks shared with the jwt-bearer grant (RFC 7523 §2.1). The assertion is
 * verified with the client's registered keys (jwks, or jwks_uri fetched and
 * cached by jose, refetched on an unknown kid with a cooldown, from public
 * addresses only unless the operator allows a network: jwks-fetch.ts), an
 * algorithm allow-list, one of the configured audiences as its sole `aud`
 * (for client assertions, the issuer identifier alone once the token endpoint
 * URL is no longer configured: see {@link assertionAudiences}), a `typ` that
 * is absent, `JWT`, `JOSE` or (client authentication only)
 * `client-authentication+jwt`, a bounded `exp`, an optional `iat` (RFC 7523
 * §3: MAY) that is not in the future, and a single-use `jti`. The jti is
 * recorded only after every other check passed (a forged assertion cannot
 * burn a jti), with a KV create that fails when present, so single use holds
 * across replicas.
 *
 * A client assertion that fails once its `iss` has been looked up, before its
 * signature is proven, gets one fixed description whatever went wrong (no
 * such client, no keys, no kid, a bad signature): the secret methods answer
 * every failure alike, and precise errors here would tell anyone which
 * client ids exist and which authenticate with keys. The detail goes to the
 * log. Failures before the lookup (a malformed JWT) and after the signature
 * (which only the key's holder can reach) keep their precise description.
 */
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader } from "jose";
import type { JWTVerifyGetKey } from "jose";
import { OAuthError, unavailable } from "@sts/errors";
import { KeySourceUnavailable, MAX_CLIENT_ID_CHARS, TokenRejected, precheckCompactJwt, verifyJwt } from "@sts/jwt";
import type { RejectionReason } from "@sts/jwt";
import type { Logger } from "@sts/telemetry";
import type { ClientRecord } from "./client-record.js";
import { ClientKeySets } from "./jwks-fetch.js";

/** Algorithms accepted for client-signed assertions: never `none`, never HMAC. */
export const ASSERTION_ALGS = ["ES256", "ES384", "EdDSA", "RS256", "PS256"] as const;

/**
 * The one description of a failed client authentication, whatever the method and whatever failed: no answer tells
 * an unknown client id from a known one, or a client of one method from one of another (RFC 6749 §5.2 invalid_client).
 */
export const CLIENT_AUTHENTICATION_FAILED = "client authentication failed";

/** The explicit typ of a client authentication JWT (draft-ietf-oauth-rfc7523bis §4). */
export const CLIENT_AUTHENTICATION_TYP = "client-authentication+jwt";

/**
 * The `aud` values an assertion may name (as its sole audience): the issuer identifier, which
 * draft-ietf-oauth-rfc7523bis requires of client assertions, and the token endpoint URL only when `tokenEndpoint`
 * is given. RFC 7523 §3 allowed the token endpoint; the audience-injection attack (OpenID Foundation disclosure,
 * January 2025) works with that single value too, since a client that sends it to the wrong server is never
 * refused there, so leave it out of the client assertions' list once clients send the issuer identifier.
 */
export function assertionAudiences(issuer: string, options: { tokenEndpoint?: string } = {}): readonly string[] {
  if (!issuer) throw new TypeError("assertionAudiences: the issuer identifier is required");
  return options.tokenEndpoint && options.tokenEndpoint !== issuer ? [issuer, options.tokenEndpoint] : [issuer];
}

/** Records a (client, jti) pair once; false when it was already there. */
export type JtiRecorder = (clientId: string, jti: string, exp: number) => Promise<boolean>;

/** What assertion checks need. */
export interface AssertionDeps {
  lookup: (clientId: string) => ClientRecord | undefined;
  recordJti: JtiRecorder;
  /**
   * Accepted `aud` values; the assertion must name exactly one of them, alone. Build it with
   * {@link assertionAudiences}: for client assertions, the issuer identifier alone is what draft-ietf-oauth-rfc7523bis
   * allows.
   */
  audiences: readonly string[];
  now: () => number;
  /** Largest `exp - now` accepted. */
  maxLifetime: number;
  clockTolerance: number;
  maxBytes: number;
  /** Where the detail of a refused client assertion goes, since its answer does not say (never the assertion itself). */
  logger?: Pick<Logger, "info">;
  /**
   * Key sets of clients registered with a jwks_uri, with the networks the operator allows them on; absent, a shared
   * one that fetches from public addresses only.
   */
  keySets?: ClientKeySets;
}

/** Claims of a verified assertion. */
export interface VerifiedAssertion {
  clientId: string;
  sub: string;
  jti: string;
  exp: number;
  payload: Record<string, unknown>;
}

/** The key sets of deps without their own: public addresses only (made at first use). */
let publicOnly: ClientKeySets | undefined;

/** The client's key resolver; jwks_uri sets are cached per URL by `keySets`. */
function keysOf(client: ClientRecord, keySets: ClientKeySets | undefined): { resolver: JWTVerifyGetKey; count: number | undefined } {
  if (client.jwks) return { resolver: createLocalJWKSet(client.jwks), count: client.jwks.keys.length };
  if (client.jwks_uri) return { resolver: (keySets ?? (publicOnly ??= new ClientKeySets())).resolver(client.jwks_uri), count: undefined };
  throw new TokenRejected("unknown_key", "client has no registered keys");
}

/**
 * Reasons verifyJwt gives only once the signature verified (jose checks the claims after it): a failure for one of
 * them tells nothing to whoever does not hold the client's key.
 */
const AFTER_SIGNATURE: ReadonlySet<RejectionReason> = new Set(["expired", "not_yet_valid", "issuer", "audience", "type", "missing_claim", "invalid_claim"]);

/** The generic `typ` values (RFC 7519 §5.1 `JWT`, RFC 7515 §4.1.9 `JOSE`), lowercase and without `application/`. */
const GENERIC_TYPS: ReadonlySet<string> = new Set(["jwt", "jose"]);

/**
 * An explicitly typed JWT of another kind (an access token, `at+jwt`; a logout token; a request object; for a grant,
 * a client authentication JWT) is never taken for this one (RFC 8725 §3.11, draft-ietf-oauth-rfc7523bis §4). Untyped,
 * `JWT` and `JOSE` stay accepted: RFC 7523 asks for no typ, and most clients send none or `JWT`. Anything else is
 * refused, not only what ends in `+jwt`: `at+jwt; charset=utf-8` or `at+jwt ` names an access token to any verifier
 * that reads media types leniently, and must not pass here as a client's own assertion.
 */
function checkTyp(typ: unknown, clientAuthentication: boolean): void {
  if (typ === undefined) return;
  if (typeof typ !== "string") throw new TokenRejected("type", "unexpected token type");
  const kind = typ.toLowerCase().replace(/^application\//, "");
  if (GENERIC_TYPS.has(kind) || (clientAuthentication && kind === CLIENT_AUTHENTICATION_TYP)) return;
  throw new TokenRejected("type", "unexpected token type");
}

/**
 * Why an assertion was refused, for the log: a key set at the client's jwks_uri that could not be fetched (its
 * server down, slow, refused, or answering no JWK Set) is named as such with its cause, not as the bad signature
 * verifyJwt reports it as (it cannot tell), so that an operator looks at the client's key server, not for a forger.
 */
function refusalOf(err: unknown): { reason: string; detail: string; keySetDown: boolean } {
  const cause = err instanceof TokenRejected ? err.cause : undefined;
  if (cause instanceof KeySourceUnavailable) return { reason: "key_set_unavailable", detail: cause.message, keySetDown: true };
  const detail = err instanceof Error ? err.message : "assertion rejected";
  return { reason: err instanceof TokenRejected ? err.reason : "signature", detail, keySetDown: false };
}

/** Makes the positional error: invalid_client for a client_assertion, invalid_grant for a grant assertion. */
type Refusal = (description: string, cause?: unknown) => OAuthError;

/** How an assertion is read. */
interface AssertionOptions {
  /** `sub` must equal `iss`: client authentication (RFC 7523 §3 item 2). */
  requireSubIsIssuer: boolean;
  expectedClientId?: string;
  /** A longer `sub` (in UTF-8 bytes) is refused. */
  maxSubjectBytes?: number;
}

/**
 * Verifies a client-signed assertion without spending its jti (see {@link spendAssertionJti}). For client
 * authentication, failures between the client's lookup and its proven signature all get
 * {@link CLIENT_AUTHENTICATION_FAILED}.
 */
export async function checkClientSignedAssertion(
  assertion: string,
  deps: Omit<AssertionDeps, "recordJti">,
  fail: Refusal,
  options: AssertionOptions,
): Promise<VerifiedAssertion> {
  if (deps.audiences.length === 0) throw new TypeError("checkClientSignedAssertion: no accepted audience configured");
  const clientAuthentication = options.requireSubIsIssuer;
  let clientId: string | undefined;
  let lookedUp = false;
  let signed = false;
  let verified: VerifiedAssertion;
  try {
    precheckCompactJwt(assertion, deps.maxBytes);
    const unverified = decodeJwt(assertion);
    checkTyp(decodeProtectedHeader(assertion).typ, clientAuthentication);
    if (typeof unverified.iss !== "string" || !unverified.iss) throw new TokenRejected("missing_claim", "iss is required");
    clientId = unverified.iss;
    if (options.expectedClientId && options.expectedClientId !== clientId) throw new TokenRejected("invalid_claim", "iss does not match client_id");
    lookedUp = true;
    const client = deps.lookup(clientId);
    if (!client) throw new TokenRejected("unknown_key", "unknown client");
    // Before the signature: a client that authenticates otherwise is refused anyway, and verifying first would spend
    // the jti of an assertion it signed with keys it also registered (and fetch its jwks_uri) for nothing.
    if (clientAuthentication && client.token_endpoint_auth_method !== "private_key_jwt")
      throw new TokenRejected("unknown_key", "client does not authenticate with private_key_jwt");
    const { resolver, count } = keysOf(client, deps.keySets);
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
    }).catch((err: unknown) => {
      signed = err instanceof TokenRejected && AFTER_SIGNATURE.has(err.reason);
      throw err;
    });
    signed = true;
    // Audience injection (OpenID Foundation disclosure, January 2025; draft-ietf-oauth-rfc7523bis): an assertion a
    // client signed with several audiences can be replayed to any of them. Only one audience, one of ours, is taken.
    if (Array.isArray(payload.aud) && payload.aud.length !== 1) throw new TokenRejected("audience", "aud must be a single value");
    if (typeof payload.sub !== "string" || !payload.sub) throw new TokenRejected("invalid_claim", "sub is required");
    if (options.requireSubIsIssuer && payload.sub !== clientId) throw new TokenRejected("invalid_claim", "sub must equal iss");
    // A subject no revocation could name (RevokeSubject takes so many bytes) would have tokens nobody can end early.
    if (options.maxSubjectBytes !== undefined && Buffer.byteLength(payload.sub, "utf8") > options.maxSubjectBytes)
      throw new TokenRejected("invalid_claim", `sub is longer than ${options.maxSubjectBytes} bytes`);
    if (typeof payload.jti !== "string" || !payload.jti || payload.jti.length > 256) throw new TokenRejected("invalid_claim", "jti is required");
    const exp = payload.exp as number;
    if (exp - deps.now() > deps.maxLifetime) throw new TokenRejected("invalid_claim", "exp is too far in the future");
    verified = { clientId, sub: payload.sub, jti: payload.jti, exp, payload: payload };
  } catch (err) {
    if (err instanceof OAuthError) throw err;
    const { reason, detail, keySetDown } = refusalOf(err);
    if (clientAuthentication && lookedUp && !signed) {
      deps.logger?.info({ client_id: clientId?.slice(0, MAX_CLIENT_ID_CHARS), reason, detail }, "client assertion refused");
      throw fail(CLIENT_AUTHENTICATION_FAILED, err);
    }
    // A grant's client is authenticated already: it may learn that its own key server failed, not a bad signature.
    if (keySetDown) throw fail("assertion rejected: the client's key set could not be fetched from its jwks_uri", err);
    throw fail(err instanceof TokenRejected ? `assertion rejected: ${err.message}` : "assertion rejected", err);
  }
  return verified;
}

/**
 * Spends an assertion's jti (single use across replicas): a second use is `fail`'s replay error, a store that
 * cannot answer temporarily_unavailable. The last check before anything is issued, so that a request refused for
 * another reason leaves the assertion unspent.
 */
export async function spendAssertionJti(recordJti: JtiRecorder, clientId: string, jti: string, exp: number, fail: Refusal): Promise<void> {
  let fresh: boolean;
  try {
    fresh = await recordJti(clientId, jti, exp);
  } catch (err) {
    // Replay checks are never skipped because the store is down.
    throw unavailable("replay cache unavailable", err);
  }
  if (!fresh) throw fail("assertion replayed (jti already used)");
}

/** Verifies a client-signed assertion and spends its jti: client authentication, where nothing is left to check. */
export async function verifyClientSignedAssertion(
  assertion: string,
  deps: AssertionDeps,
  fail: Refusal,
  options: AssertionOptions,
): Promise<VerifiedAssertion> {
  const verified = await checkClientSignedAssertion(assertion, deps, fail, options);
  await spendAssertionJti(deps.recordJti, verified.clientId, verified.jti, verified.exp, fail);
  return verified;
}
