/** The access token profile (RFC 9068 plus RFC 8693 delegation claims). */
import { decodeJwt, decodeProtectedHeader } from "jose";
import type { JWTPayload } from "jose";

/** RFC 8693 §4.1 actor claim: newest actor outermost. */
export interface ActClaim {
  sub: string;
  act?: ActClaim;
  [other: string]: unknown;
}

/** Claims of an access token issued by this stack. */
export interface AccessTokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  /** Space-delimited when we issue it (absent when no scope was granted); an array is accepted on input. */
  scope?: string | string[];
  act?: ActClaim;
  /** RFC 8693 §4.4; its shape is checked where it is used (isMayAct), since a token from the wire may carry anything. */
  may_act?: unknown;
  /** RFC 9493 `iss_sub` subject identifier: set when the subject was vouched for by another (trusted) issuer. */
  sub_id?: unknown;
  /**
   * jtis of this stack's tokens this one was exchanged from, nearest first.
   * A private claim: revoking any of them revokes this token too.
   */
  lineage?: string[];
  /**
   * When the chain this token continues began (seconds): the `iat` of the
   * chain's first token, carried down every exchange. A private claim, never
   * after `iat`: a subject revocation compares it, not `iat`, so a hop
   * exchanged late (by an exchanger that had not seen the revocation yet)
   * stays covered. Absent on a chain's first token.
   */
  origin_iat?: number;
  /**
   * The client of this stack the chain began with (the `client_id` of its
   * first token), carried down every exchange. A private claim: revoking that
   * client revokes every hop made from the token issued to it, as revoking
   * the subject does. Absent on a chain's first token.
   */
  origin_client_id?: string;
  /**
   * kids of this issuer's keys that signed the tokens this one was exchanged
   * from (its `lineage`, an actor token's included), each once, without the
   * kid in this token's own header. A private claim: withdrawing any of them
   * revokes this token too, since its authority came from a token that key
   * signed (or, the key leaked, could have forged). Absent when empty: every
   * ancestor signed by the key that signed this token, or none of ours.
   */
  lineage_kids?: string[];
}

/**
 * The issuer that vouches for a token's subject: the `iss` of an RFC 9493
 * `iss_sub` identifier naming this very `sub` (put there when a trusted
 * issuer's token was exchanged), else the token's own `iss`. Only for
 * tokens whose signature is this stack's: another issuer's `sub_id` is
 * that issuer's word, not ours.
 */
export function subjectIssuer(claims: Pick<AccessTokenClaims, "iss" | "sub" | "sub_id">): string {
  return isIssSubFor(claims.sub_id, claims.sub) ? claims.sub_id.iss : claims.iss;
}

/** True for an RFC 9493 `iss_sub` identifier of exactly this subject. */
export function isIssSubFor(id: unknown, sub: string): id is { format: "iss_sub"; iss: string; sub: string } {
  const v = id as { format?: unknown; iss?: unknown; sub?: unknown } | null | undefined;
  return typeof v === "object" && v !== null && v.format === "iss_sub" && typeof v.iss === "string" && v.iss !== "" && v.sub === sub;
}

/** RFC 8693 §4.4 `may_act`: names the one party that may act (and its issuer, optionally). */
export interface MayActClaim {
  sub: string;
  iss?: string;
  [other: string]: unknown;
}

/** True for a `may_act` that names a party: an object with a non-empty string `sub` and, if present, a string `iss`. */
export function isMayAct(value: unknown): value is MayActClaim {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const rec = value as Record<string, unknown>;
  return typeof rec.sub === "string" && rec.sub.length > 0 && (rec.iss === undefined || typeof rec.iss === "string");
}

/** Audience claim as a list. */
export function audienceList(aud: unknown): string[] {
  if (typeof aud === "string") return [aud];
  if (Array.isArray(aud)) return aud.filter((a): a is string => typeof a === "string");
  return [];
}

/** Depth of an act chain (0 when absent). */
export function actDepth(act: ActClaim | undefined): number {
  let depth = 0;
  for (let a = act; a; a = a.act) depth++;
  return depth;
}

/** Subjects of an act chain, newest first. */
export function actSubjects(act: ActClaim | undefined): string[] {
  const out: string[] = [];
  for (let a = act; a; a = a.act) out.push(a.sub);
  return out;
}

/** Checks that an unverified-shape `act` value is a well-formed chain, bounded in depth. */
export function isActClaim(value: unknown, maxDepth = 32): value is ActClaim {
  let node: unknown = value;
  for (let depth = 0; node !== undefined; depth++) {
    if (depth >= maxDepth) return false;
    if (typeof node !== "object" || node === null || Array.isArray(node)) return false;
    const rec = node as Record<string, unknown>;
    if (typeof rec.sub !== "string" || rec.sub.length === 0) return false;
    node = rec.act;
  }
  return true;
}

/** Most jtis a `lineage` claim may hold: one per exchange, and the config caps chains at 32 hops. */
export const MAX_LINEAGE = 33;

/** Longest jti accepted in a `lineage` (ours are 22 characters). */
const MAX_LINEAGE_JTI_CHARS = 128;

/** True for a well-formed `lineage` claim: a bounded list of non-empty, bounded strings. */
export function isLineage(value: unknown): value is string[] {
  return Array.isArray(value) && value.length <= MAX_LINEAGE && value.every((j) => typeof j === "string" && j.length > 0 && j.length <= MAX_LINEAGE_JTI_CHARS);
}

/**
 * The jtis whose revocation revokes this token: its own, then its
 * ancestors' (nearest first). Also the `lineage` of a token exchanged from it.
 */
export function lineageOf(claims: { jti: string; lineage?: readonly string[] | undefined }): string[] {
  return [claims.jti, ...(claims.lineage ?? [])];
}

/**
 * The `lineage` of a token made from a subject token with an actor token: the
 * subject's lineage (nearest first), then the actor token's own jti and
 * lineage, each jti once. The delegation rests on both, so revoking either
 * revokes what was made with them. Undefined when it would not fit
 * {@link MAX_LINEAGE}: a verifier would refuse the token it went into.
 */
export function lineageWithActor(subjectLineage: readonly string[], actor: { jti: string; lineage?: readonly string[] | undefined }): string[] | undefined {
  const lineage = [...new Set([...subjectLineage, ...lineageOf(actor)])];
  return lineage.length <= MAX_LINEAGE ? lineage : undefined;
}

/** Longest kid accepted in `lineage_kids`: the longest an operator may name when withdrawing a key (ours are 16). */
export const MAX_KID_CHARS = 256;

/**
 * True for a well-formed `lineage_kids` claim: a non-empty list (an empty one is left out) of at most {@link MAX_LINEAGE} distinct,
 * non-empty kids of at most {@link MAX_KID_CHARS} characters. Each ancestor in `lineage` was signed by one key, so the
 * list is never longer than the lineage it goes with.
 */
export function isLineageKids(value: unknown): value is string[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.length <= MAX_LINEAGE &&
    value.every((k) => typeof k === "string" && k.length > 0 && k.length <= MAX_KID_CHARS) &&
    new Set(value).size === value.length
  );
}

/**
 * The claims that decide whether a token is revoked: its id, its ancestors', and whose it is and since when; with
 * `kid`, the key that signed it (from the protected header, not a claim), revoked whole when an operator withdrew it,
 * as it is when one that signed an ancestor (`lineage_kids`) was.
 */
export type RevocableClaims = Pick<
  AccessTokenClaims,
  "jti" | "lineage" | "iss" | "sub" | "sub_id" | "iat" | "origin_iat" | "origin_client_id" | "lineage_kids"
> &
  Partial<Pick<AccessTokenClaims, "client_id" | "act">> & { kid?: string };

/**
 * Longest `iss` or `sub` that RevokeSubject takes, in UTF-8 bytes: no token is made for a longer subject (it could
 * never be revoked), whether it came in an assertion or in another issuer's subject token.
 */
export const MAX_SUBJECT_BYTES = 1024;

/** Longest client id of this stack: the registry's limit, and so the longest `origin_client_id` a token may carry. */
export const MAX_CLIENT_ID_CHARS = 256;

/** True for a well-formed `origin_client_id`: a client id of this stack (a non-empty string of at most {@link MAX_CLIENT_ID_CHARS} characters). */
export function isOriginClientId(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_CLIENT_ID_CHARS;
}

/** True for a well-formed `origin_iat` of a token issued at `iat`: a number no later than it. */
export function isOriginIat(value: unknown, iat: number): value is number {
  return typeof value === "number" && Number.isFinite(value) && value <= iat;
}

/** Revocation lookups that trust the state they read (its freshness checked by whoever hands them out). */
export interface RevocationLookups {
  /** True when this token id was revoked (RFC 7009). */
  isRevoked(jti: string): boolean;
  /** When every token of this subject issued until then was revoked (seconds), if it was. */
  subjectRevokedAt(iss: string, sub: string): number | undefined;
  /** True when the issuer withdrew the signing key `kid`: every token it signed, or exchanged from one it signed, is revoked. */
  isKeyWithdrawn(iss: string, kid: string): boolean;
}

/** The revocation state every verifier holds (a watch-fed copy of the revocations bucket). */
export interface RevocationState {
  /** True when this token id was revoked (RFC 7009); may throw temporarily_unavailable when the state is too old to trust. */
  isRevoked(jti: string): boolean;
  /** When every token of this subject issued until then was revoked (seconds), if it was; may throw as isRevoked does. */
  subjectRevokedAt(iss: string, sub: string): number | undefined;
  /** True when the issuer withdrew the signing key `kid` (see RevocationLookups); may throw as isRevoked does. */
  isKeyWithdrawn(iss: string, kid: string): boolean;
  /**
   * Checks once that the state can be trusted (throws temporarily_unavailable when it is too old) and returns lookups
   * that do not check again: a token's lookups then cost one check, not one per jti. Optional; without it each
   * lookup checks for itself.
   */
  checked?(): RevocationLookups;
}

/**
 * The one revocation check of every verifier: true when the token, or any
 * token of ours it was exchanged from, is revoked, or when its subject was
 * revoked at or after its chain began (`origin_iat`, else `iat`). The subject
 * is named by the issuer that vouches for it (a federated subject's RFC 9493
 * `sub_id`), so revoking a provider's `alice` leaves this stack's `alice`
 * alone. An exchanged token keeps `sub` and `origin_iat`, so a subject
 * revocation reaches every hop, however late it was exchanged.
 *
 * A revoked subject that is a client of the token's issuer (a compromised
 * workload) also revokes the tokens issued to it (`client_id`) and those
 * made through it as an actor (`act`), of every chain begun by its
 * revocation: Keycloak's "not before" of a client. Judged, like the subject,
 * by where the chain began, not by `iat`: a hop an exchanger made from such
 * a chain after the revocation (stale for a moment, or for a thief still
 * holding the client's old credentials) is covered too. Chains begun after
 * the revocation are the client's own again.
 *
 * A token signed with a key its issuer withdrew (`kid`, when known) is
 * revoked whenever it was signed: the key may have been compromised long
 * before anyone noticed, and verifiers holding the issuer's JWKS in a cache
 * would otherwise accept it until they fetch the JWKS again. So is a token
 * exchanged from one (`lineage_kids`), whatever key signed it: its authority
 * came from a token a thief of that key could have forged.
 *
 * This runs for every token on every verifier: one freshness check, then Map
 * lookups on the strings the claims already hold (nothing encoded), in an
 * indexed loop (no closure, no iterator). With a state whose `checked()`
 * returns an object it already holds, it allocates nothing.
 */
export function isTokenRevoked(claims: RevocableClaims, state: RevocationState, kid: string | undefined = claims.kid): boolean {
  const lookups = state.checked?.() ?? state;
  if (lookups.isRevoked(claims.jti)) return true;
  if (kid !== undefined && lookups.isKeyWithdrawn(claims.iss, kid)) return true;
  const kids = claims.lineage_kids;
  if (kids) for (let i = 0; i < kids.length; i++) if (lookups.isKeyWithdrawn(claims.iss, kids[i] as string)) return true;
  const lineage = claims.lineage;
  if (lineage) for (let i = 0; i < lineage.length; i++) if (lookups.isRevoked(lineage[i] as string)) return true;
  const began = claims.origin_iat ?? claims.iat;
  if (begunBy(lookups.subjectRevokedAt(subjectIssuer(claims), claims.sub), began)) return true;
  if (claims.client_id !== undefined && begunBy(lookups.subjectRevokedAt(claims.iss, claims.client_id), began)) return true;
  if (claims.origin_client_id !== undefined && begunBy(lookups.subjectRevokedAt(claims.iss, claims.origin_client_id), began)) return true;
  for (let act = claims.act; act !== undefined; act = act.act) if (begunBy(lookups.subjectRevokedAt(claims.iss, act.sub), began)) return true;
  return false;
}

/** Whether a chain begun at `began` began by the time its subject, client or actor was revoked (at `revokedAt`, if ever). */
export const begunBy = (revokedAt: number | undefined, began: number): boolean => revokedAt !== undefined && began <= revokedAt;

/**
 * The claims that revoke a token, read without verifying it (a cache
 * deciding whether to use what it holds, never a grant of access); undefined
 * for a string that is not a JWT. A claim that is missing or of the wrong
 * type reads as one that revokes nothing, except a missing (or not finite) `iat` or a
 * malformed `origin_iat` (not a number, or after `iat`), which read as a
 * chain begun before any subject revocation, and a malformed
 * `origin_client_id` or `lineage_kids`, which makes the whole token
 * unreadable (undefined): it could name no client or key to check. `kid`
 * comes from the protected header.
 */
export function revocableClaimsOf(token: string): RevocableClaims | undefined {
  let claims: JWTPayload;
  let kid: unknown;
  try {
    claims = decodeJwt(token);
    kid = decodeProtectedHeader(token).kid;
  } catch {
    return undefined;
  }
  if (claims.origin_client_id !== undefined && !isOriginClientId(claims.origin_client_id)) return undefined;
  if (claims.lineage_kids !== undefined && !isLineageKids(claims.lineage_kids)) return undefined;
  const str = (v: unknown): string => (typeof v === "string" ? v : "");
  // Infinity (`1e400` in the JSON) would read as a chain begun after every revocation: no finite number, no iat.
  const iat = typeof claims.iat === "number" && Number.isFinite(claims.iat) ? claims.iat : -Infinity;
  return {
    jti: str(claims.jti),
    ...(typeof claims.client_id === "string" && { client_id: claims.client_id }),
    ...(isActClaim(claims.act) && { act: claims.act }),
    ...(isLineage(claims.lineage) && { lineage: claims.lineage }),
    iss: str(claims.iss),
    sub: str(claims.sub),
    ...(claims.sub_id !== undefined && { sub_id: claims.sub_id }),
    iat,
    ...(claims.origin_iat !== undefined && { origin_iat: isOriginIat(claims.origin_iat, iat) ? claims.origin_iat : -Infinity }),
    ...(claims.origin_client_id !== undefined && { origin_client_id: claims.origin_client_id }),
    ...(claims.lineage_kids !== undefined && { lineage_kids: claims.lineage_kids }),
    ...(typeof kid === "string" && { kid }),
  };
}
