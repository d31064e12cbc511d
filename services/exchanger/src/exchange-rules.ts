/**
 * The exchange rules of ARCHITECTURE.md in one place, as pure functions:
 * parameters, presentation, may_act, the delegation chain, scope and
 * lifetime. Every refusal here is an OAuthError with the RFC 8693 code.
 */
import type { OAuthError } from "@sts/errors";
import { invalidRequest, invalidScope, invalidTarget } from "@sts/errors";
import { ISSUABLE_TOKEN_TYPES, MAX_SUBJECT_BYTES, TOKEN_TYPE, actDepth, actSubjects, begunBy, isMayAct, subjectIssuer } from "@sts/jwt";
import type { AccessTokenClaims, ActClaim, RevocationLookups } from "@sts/jwt";
import {
  MAX_DECISION_LIST_LENGTH,
  MAX_DECISION_NAME_LENGTH,
  MAX_DECISION_SUBJECT_CHARS,
  audiencesWellFormed,
  decisionChars,
  intersectScopes,
  isCleanName,
  parseScopes,
  requestedAudiences,
  resourceWellFormed,
  tryParseScopes,
} from "@sts/scopes";
import type { ExchangeRequest__Output } from "@sts/proto";

/** Token types accepted as subject_token_type / actor_token_type (RFC 8693 §3). */
export const ACCEPTED_INPUT_TYPES: ReadonlySet<string> = new Set([TOKEN_TYPE.ACCESS_TOKEN, TOKEN_TYPE.JWT]);

/** Validated exchange parameters. */
export interface ExchangeParams {
  subjectToken: string;
  subjectTokenType: string;
  actorToken?: string;
  actorTokenType?: string;
  requestedTokenType: string;
  /** Target audiences, primary first. */
  audiences: string[];
  /** Requested scope; empty means "the policy's default for this hop". */
  scope: string[];
}

/** Parses and checks RFC 8693 §2.1 parameters before any token is looked at. */
export function parseExchangeParams(req: ExchangeRequest__Output, maxTokenBytes: number): ExchangeParams {
  if (!req.subject_token) throw invalidRequest("subject_token is required");
  if (!req.subject_token_type) throw invalidRequest("subject_token_type is required");
  if (!ACCEPTED_INPUT_TYPES.has(req.subject_token_type)) throw invalidRequest("unsupported subject_token_type");
  if (req.subject_token.length > maxTokenBytes) throw invalidRequest("subject_token is too large");
  // §2.1: actor_token_type is REQUIRED with actor_token and MUST NOT appear without it.
  if (!!req.actor_token !== !!req.actor_token_type) throw invalidRequest("actor_token and actor_token_type go together");
  if (req.actor_token_type && !ACCEPTED_INPUT_TYPES.has(req.actor_token_type)) throw invalidRequest("unsupported actor_token_type");
  if (req.actor_token && req.actor_token.length > maxTokenBytes) throw invalidRequest("actor_token is too large");
  const requestedTokenType = req.requested_token_type || TOKEN_TYPE.ACCESS_TOKEN;
  if (!ISSUABLE_TOKEN_TYPES.has(requestedTokenType)) throw invalidRequest("unsupported requested_token_type");
  // RFC 8693 §2.1, RFC 8707 §2: a resource is an absolute URI with no fragment; anything else names no resource server
  // and is invalid_target ("malformed"), not an audience a policy may happen to match (`resource=svc-b`).
  if (!req.resource.every(resourceWellFormed)) throw invalidTarget("resource must be an absolute URI without a fragment (RFC 8707 section 2)");
  const audiences = requestedAudiences(req.audience, req.resource);
  if (audiences.length === 0) throw invalidRequest("audience or resource is required");
  if (!audiencesWellFormed(audiences)) throw invalidRequest("malformed audience or resource");
  return {
    subjectToken: req.subject_token,
    subjectTokenType: req.subject_token_type,
    ...(req.actor_token && { actorToken: req.actor_token, actorTokenType: req.actor_token_type }),
    requestedTokenType,
    audiences,
    scope: parseScopes(req.scope),
  };
}

// The most the policy service takes in a decision request (MAX_DECISION_*): a longer name, a longer list, an empty
// entry or more characters in all than its budget it answers as a malformed request, a deny that would reach the
// caller as invalid_target, the target's fault, when it is the subject token's.

/** The claims {@link subjectNamesProblem} reads: the names it checks, and what else of the token a decision carries. */
export type SubjectNames = Pick<AccessTokenClaims, "sub" | "client_id" | "aud" | "jti"> & Partial<Pick<AccessTokenClaims, "iss" | "sub_id" | "scope" | "act">>;

/**
 * Why a verified subject token's names cannot be carried on, or undefined. A trusted issuer chooses them freely, and
 * each goes somewhere that takes less than a JWT may hold: `sub` to RevokeSubject (no token of ours is made for a
 * subject that could never be revoked) and into the new token; `sub`, `client_id` and every `aud` to the policy
 * service; `jti` into every event as the lineage parent, and all of them to auditors' terminals. A name that does not
 * fit is the subject token's fault (RFC 8693 §2.2.2), never a target denied.
 */
export function subjectNamesProblem(claims: SubjectNames): string | undefined {
  if (claims.sub === "") return "sub is empty";
  if (Buffer.byteLength(claims.sub, "utf8") > MAX_SUBJECT_BYTES) return `sub is longer than ${MAX_SUBJECT_BYTES} bytes`;
  const aud: unknown = claims.aud;
  const audiences = typeof aud === "string" ? [aud] : aud;
  if (!Array.isArray(audiences) || !audiences.every((a): a is string => typeof a === "string")) return "aud is not a string or a list of strings";
  if (audiences.length > MAX_DECISION_LIST_LENGTH) return `aud names more than ${MAX_DECISION_LIST_LENGTH} audiences`;
  if (audiences.some((a) => a === "")) return "aud holds an empty audience";
  if (claims.jti === "") return "jti is empty";
  const names = [claims.sub, claims.client_id, claims.jti, ...audiences];
  if (!names.every(isCleanName)) {
    return `sub, client_id, jti or aud is longer than ${MAX_DECISION_NAME_LENGTH} characters, or holds a control character or broken UTF-16`;
  }
  if (decisionChars(subjectPartOfDecision(claims, audiences)) > MAX_DECISION_SUBJECT_CHARS) {
    return `its sub, client_id, iss, scopes, audiences and actors sum to more than ${MAX_DECISION_SUBJECT_CHARS} characters, more than a policy decision takes`;
  }
  return undefined;
}

/**
 * The strings of a subject token that a decision request carries (its `subject` and `actors`), as the exchanger sends
 * them. The issuer counts at the longer of `iss` and the `sub_id` issuer that may stand for it; a scope claim that does
 * not parse counts as none (it is refused on its own, before any question).
 */
function subjectPartOfDecision(claims: SubjectNames, audiences: readonly string[]): Array<string | readonly string[]> {
  const iss = claims.iss ?? "";
  const origin = subjectIssuer({ iss, sub: claims.sub, sub_id: claims.sub_id });
  return [claims.sub, claims.client_id, origin.length > iss.length ? origin : iss, tryParseScopes(claims.scope) ?? [], audiences, actSubjects(claims.act)];
}

/**
 * The times Mint takes (int64 seconds, read back as safe integers) for a token made from a subject and maybe an actor
 * token: `not_after`, never past either's `exp`, and `origin_iat`, where the subject's chain began. A trusted
 * issuer's token may say any JSON number: an `exp` past every safe integer (a token that never expires, in effect)
 * leaves the new token its own lifetime, where written out it would wrap around the int64 (or print as `1e+21`,
 * read as 1) and be refused as expired; an `iat` not after 1970 says nothing of when the chain began (Mint reads 0 as none).
 */
export function mintTimes(subject: Pick<AccessTokenClaims, "exp" | "iat" | "origin_iat">, actorExp?: number): { not_after: string; origin_iat: string } {
  const began = Math.floor(subject.origin_iat ?? subject.iat);
  if (!(began > 0)) throw badToken("subject_token", "iat is not after 1970-01-01");
  const notAfter = Math.floor(Math.min(subject.exp, actorExp ?? Infinity, Number.MAX_SAFE_INTEGER));
  return { not_after: String(notAfter), origin_iat: String(began) };
}

/** The party that will act: always the calling client, identified by its id and the issuer that vouches for it. */
export interface ActingParty {
  sub: string;
  iss: string;
}

/**
 * The acting party (ARCHITECTURE.md rule 4: the new `act` names the caller X).
 * An actor token, when presented, must be the caller's own: its `sub` or
 * `client_id` is the caller. Otherwise any token a client holds (say one of
 * alice's) would let it write "alice acts for bob" into `act`, the audit
 * lineage and the headers a workload trusts.
 */
export function actingParty(clientId: string, issuer: string, actor: AccessTokenClaims | undefined): ActingParty {
  if (actor && actor.sub !== clientId && actor.client_id !== clientId) throw invalidRequest("actor_token does not identify the calling client");
  // A verified actor token is ours, so its issuer is this one too.
  return { sub: clientId, iss: issuer };
}

/**
 * A client revoked since the subject's chain began may not carry it on: every verifier would refuse the token as
 * revoked at birth (isTokenRevoked judges a revoked client by where the chain began), so none is made.
 */
export function checkCallerNotRevoked(clientId: string, issuer: string, chainBegan: number, revocations: Pick<RevocationLookups, "subjectRevokedAt">): void {
  if (begunBy(revocations.subjectRevokedAt(issuer, clientId), chainBegan))
    throw badToken("subject_token", "its chain began before the calling client was revoked");
}

/**
 * RFC 8693 §4.4: when the subject token names who may act for it, the acting
 * party must be that one, from that issuer. A `sub` is unique only within its
 * issuer's namespace (RFC 7519 §4.1.2), so a `may_act` without `iss` names a
 * party of the token's own issuer: in a trusted issuer's token, one of its
 * parties, never the client of ours that happens to share the name (as its
 * `act` is refused for the same reason). A `may_act` that names nobody (not
 * an object with a string `sub`) allows nobody.
 */
export function checkMayAct(subject: AccessTokenClaims, acting: ActingParty): void {
  const mayAct = subject.may_act;
  if (mayAct === undefined) return;
  if (!isMayAct(mayAct)) throw invalidRequest("the subject token's may_act is malformed");
  if (mayAct.sub !== acting.sub || (mayAct.iss ?? subject.iss) !== acting.iss)
    throw invalidRequest("the acting party is not allowed by the subject token's may_act");
}

/** RFC 8693 §4.1: the new actor outermost, the previous chain nested inside. */
export function buildActChain(acting: ActingParty, previous: ActClaim | undefined): ActClaim {
  return previous ? { sub: acting.sub, act: previous } : { sub: acting.sub };
}

/** Refuses a chain deeper than the policy's and the global limit. */
export function checkDepth(act: ActClaim, policyMaxDepth: number, globalMaxDepth: number): void {
  const limit = policyMaxDepth > 0 ? Math.min(policyMaxDepth, globalMaxDepth) : globalMaxDepth;
  if (actDepth(act) > limit) throw invalidRequest(`delegation chain deeper than ${limit}`);
}

/** The part of a policy decision the scope rule needs. */
export interface ScopeAllowance {
  allowedScopes: readonly string[];
  defaultScopes: readonly string[];
}

/**
 * What a token for several audiences may carry: only what every one of them allows, as the meet of their allowances
 * (`read:/data` for one and `read:/data/x` for another leave `read:/data/x`, not nothing).
 */
export function allowanceForAll(a: ScopeAllowance, b: ScopeAllowance): ScopeAllowance {
  return { allowedScopes: intersectScopes(a.allowedScopes, b.allowedScopes), defaultScopes: intersectScopes(a.defaultScopes, b.defaultScopes) };
}

/** Scopes requested, narrowed to the subject token's, before asking the policy. */
export function scopesToAsk(requested: readonly string[], subjectScopes: readonly string[]): string[] {
  if (requested.length === 0) return [];
  const within = intersectScopes([...requested], [...subjectScopes]);
  if (within.length === 0) throw invalidScope("requested scope is not within the subject token's scope");
  return within;
}

/**
 * Granted = requested ∩ subject ∩ policy allowance, or, with nothing
 * requested, the policy's default ∩ subject. Never wider than the subject
 * token; empty is invalid_scope.
 */
export function grantedScopes(asked: readonly string[], subjectScopes: readonly string[], allowance: ScopeAllowance): string[] {
  const base = asked.length > 0 ? intersectScopes([...asked], [...allowance.allowedScopes]) : [...allowance.defaultScopes];
  const granted = intersectScopes(base, [...subjectScopes]);
  if (granted.length === 0)
    throw invalidScope(asked.length > 0 ? "requested scope is not allowed for this audience" : "no scope would be granted for this audience");
  return granted;
}

/**
 * RFC 8693 §2.2.1 token_type: N_A is for a token that is not usable as an
 * access token. Both types issued here are at+jwt (or opaque) access tokens
 * that resource servers and sidecars accept as bearer tokens, so "Bearer"
 * whichever was requested.
 */
export function tokenTypeFor(issuedTokenType: string): string {
  return issuedTokenType === TOKEN_TYPE.ACCESS_TOKEN || issuedTokenType === TOKEN_TYPE.JWT ? "Bearer" : "N_A";
}

/**
 * Refuses a token past its `exp` on our clock. Verification lets it through for the clock tolerance, but nothing may be
 * made from it: the new token may not outlive it, and the issuer's clock would refuse it a moment later anyway.
 */
export function checkNotExpired(exp: number, position: "subject_token" | "actor_token", now: number): void {
  if (exp <= now) throw badToken(position, "token expired");
}

/** The position of a bad token decides the error (RFC 8693 §2.2.2, SECURITY.md). */
export function badToken(position: "subject_token" | "actor_token", reason: string, cause?: unknown): OAuthError {
  return invalidRequest(`${position} rejected: ${reason}`, cause);
}
