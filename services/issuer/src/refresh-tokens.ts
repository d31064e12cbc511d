/**
 * Refresh tokens (RFC 6749 §6) with rotation and reuse detection (OAuth 2.0
 * Security BCP, RFC 9700 §4.14.2): every use returns a new refresh token of
 * the same family and spends the old one; presenting a spent one revokes the
 * whole family, so a stolen token and its legitimate successor both die.
 * Tokens are random and opaque; the store keeps their SHA-256, never the
 * token. Moving the family's `latest` pointer on is a KV compare-and-set, so
 * two replicas cannot both accept the same token, and a rotation racing a
 * reuse detection cannot bring a revoked family back.
 *
 * A refresh is checked first, its access token minted next, then its
 * successor written, the family pointer moved (the commit point), and only
 * then is the old token marked spent: a failure anywhere before the commit
 * (NATS down, no durable event) leaves the presented token the family's
 * newest and usable for the client's retry, instead of having the retry look
 * like theft. A successor whose commit failed was never handed out.
 *
 * A family started at or before its subject was revoked (an operator's
 * RevokeSubject) is refused and revoked: a workload holding a refresh token
 * for a user who was signed out everywhere cannot refresh its way past it.
 * Every token of a family carries the family's start, so rotating after the
 * revocation does not make it look newer.
 */
import { createHash, randomBytes } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { begunBy } from "@sts/jwt";
import { isWriteConflict } from "@sts/nats";
import { OAuthError, invalidGrant, unavailable } from "@sts/errors";

/** Prefix that tells refresh tokens apart (and helps secret scanners). */
export const REFRESH_PREFIX = "str_";

/** What a refresh token stands for. */
export interface RefreshGrant {
  family: string;
  client_id: string;
  sub: string;
  scope: string[];
  aud: string[];
  iat: number;
  exp: number;
  /** When the family's first token was issued (absent in records made before it was kept: then `iat`). */
  family_iat?: number;
  /** jti of the access token issued with it (lineage of refreshed tokens). */
  access_jti: string;
  /** exp of that access token, so revoking the refresh token can revoke it too (absent in records made before it was kept). */
  access_exp?: number;
  state: "active" | "spent";
}

interface Family {
  revoked: boolean;
  latest: string;
}

/** A refresh token that passed every check and is not spent yet. */
export interface CheckedRefresh {
  grant: RefreshGrant;
  readonly key: string;
  readonly revision: number;
  readonly familyRevision: number;
}

/** The access token issued with a refresh token. */
export interface IssuedAccess {
  access_jti: string;
  access_exp: number;
}

const digest = (token: string): string => createHash("sha256").update(token).digest("base64url");
const tokenKey = (hash: string): string => `rt.${hash}`;
const familyKey = (family: string): string => `fam.${family}`;

function storeDown(err: unknown): never {
  if (err instanceof OAuthError) throw err;
  throw unavailable("refresh token store unavailable", err);
}

/** When a subject of this stack was revoked, if it was, as the revocations bucket holds it (not a replica's copy). */
export type SubjectRevokedAt = (sub: string) => Promise<number | undefined>;

/** The refresh token store. */
export class RefreshTokens {
  constructor(
    private readonly kv: KV,
    private readonly now: () => number,
    /** Without it, subject revocations are not looked at (tests of rotation alone). */
    private readonly subjectRevokedAt?: SubjectRevokedAt,
  ) {}

  /** A fresh family id, known before the family's first token is issued (so the access token's event can name it). */
  newFamily(): string {
    return randomBytes(12).toString("base64url");
  }

  /** Issues the first refresh token of a new family (an id from newFamily; the KV create refuses an existing one). */
  async issue(
    grant: Omit<RefreshGrant, "family" | "iat" | "exp" | "state">,
    ttl: number,
    family: string,
  ): Promise<{ token: string; iat: number; exp: number; family: string }> {
    const { token, record } = this.#record(grant, family, ttl);
    record.family_iat = record.iat;
    try {
      await this.kv.create(tokenKey(digest(token)), JSON.stringify(record));
      await this.kv.create(familyKey(family), JSON.stringify({ revoked: false, latest: digest(token) } satisfies Family));
    } catch (err) {
      storeDown(err);
    }
    return { token, iat: record.iat, exp: record.exp, family };
  }

  /** Checks a refresh token of `clientId` without spending it; a spent one revokes its family. Throws invalid_grant. */
  async check(token: string, clientId: string): Promise<CheckedRefresh> {
    if (!token.startsWith(REFRESH_PREFIX) || token.length > 128) throw invalidGrant("refresh token is invalid");
    const hash = digest(token);
    const key = tokenKey(hash);
    try {
      const entry = await this.kv.get(key);
      if (!entry || entry.operation !== "PUT") throw invalidGrant("refresh token is invalid");
      const grant = entry.json<RefreshGrant>();
      // RFC 6749 §6: the token must have been issued to the authenticated client.
      if (grant.client_id !== clientId) throw invalidGrant("refresh token was issued to another client");
      const subjectRevoked = this.#subjectRevokedSoon(grant);
      const familyEntry = await this.kv.get(familyKey(grant.family));
      const family = familyEntry?.operation === "PUT" ? familyEntry.json<Family>() : undefined;
      if (!familyEntry || !family || family.revoked) throw invalidGrant("refresh token family is revoked");
      if (grant.exp <= this.now()) throw invalidGrant("refresh token expired");
      if (grant.state === "spent") {
        await this.#revokeFamily(grant.family);
        throw invalidGrant("refresh token reused: its family is revoked");
      }
      // Only the newest token of a family is live. An older one still marked active was rotated (its spent mark,
      // written after the commit, was lost): it is a second use like any spent one. Successors of failed
      // rotations are not live either, and were never handed out.
      if (family.latest !== hash) {
        await this.#revokeFamily(grant.family);
        throw invalidGrant("refresh token reused: its family is revoked");
      }
      if (await subjectRevoked) {
        // Revoked for good: the subject's record leaves the bucket once no token it covers can live, the family's mark stays.
        await this.#revokeFamily(grant.family);
        throw invalidGrant("refresh token family is revoked: its subject was signed out");
      }
      return { grant, key, revision: entry.revision, familyRevision: familyEntry.revision };
    } catch (err) {
      return storeDown(err);
    }
  }

  /**
   * Issues the successor of a checked token in the same family and spends
   * the old one. The family pointer's compare-and-set is the single-use
   * guarantee: of two uses of the same token, one moves it and the other
   * finds it moved, which revokes the family.
   */
  async rotate(checked: CheckedRefresh, access: IssuedAccess, ttl: number): Promise<{ token: string; iat: number; exp: number }> {
    const { grant } = checked;
    const { token, record } = this.#record({ client_id: grant.client_id, sub: grant.sub, scope: grant.scope, aud: grant.aud, ...access }, grant.family, ttl);
    record.family_iat = grant.family_iat ?? grant.iat;
    try {
      // The successor first: should anything below fail, it is an orphan no one holds, and the presented token stays the newest.
      await this.kv.create(tokenKey(digest(token)), JSON.stringify(record));
      try {
        await this.kv.update(familyKey(grant.family), JSON.stringify({ revoked: false, latest: digest(token) } satisfies Family), checked.familyRevision);
      } catch (err) {
        if (!isWriteConflict(err)) throw err;
        // The family moved since the check: another use of this token rotated it (a second use), or it was revoked.
        await this.#revokeFamily(grant.family);
        throw invalidGrant("refresh token reused: its family is revoked");
      }
    } catch (err) {
      storeDown(err);
    }
    // Committed. The spent mark only makes a later reuse read as such sooner; without it the token is no longer the
    // family's newest, which check() treats as reuse too. A failure here must not fail a rotation already made.
    await this.kv.update(checked.key, JSON.stringify({ ...grant, state: "spent" } satisfies RefreshGrant), checked.revision).catch(() => undefined);
    return { token, iat: record.iat, exp: record.exp };
  }

  /** RFC 7662 for refresh tokens: the grant of a live token (active, family not revoked, not expired), else undefined. */
  async inspect(token: string): Promise<RefreshGrant | undefined> {
    if (!token.startsWith(REFRESH_PREFIX) || token.length > 128) return undefined;
    try {
      const entry = await this.kv.get(tokenKey(digest(token)));
      if (!entry || entry.operation !== "PUT") return undefined;
      const grant = entry.json<RefreshGrant>();
      if (grant.state !== "active" || grant.exp <= this.now()) return undefined;
      const subjectRevoked = this.#subjectRevokedSoon(grant);
      const familyEntry = await this.kv.get(familyKey(grant.family));
      const family = familyEntry?.operation === "PUT" ? familyEntry.json<Family>() : undefined;
      return family && !family.revoked && !(await subjectRevoked) ? grant : undefined;
    } catch (err) {
      return storeDown(err);
    }
  }

  /**
   * RFC 7009: revokes the family of a refresh token of `clientId`. Answers the revoked grant and the
   * newest one of its family, so their access tokens can be revoked too
   * (§2.1 SHOULD); undefined for a token that is not ours.
   */
  async revoke(token: string, clientId: string): Promise<{ grant: RefreshGrant; newest?: RefreshGrant } | undefined> {
    if (!token.startsWith(REFRESH_PREFIX) || token.length > 128) return undefined;
    try {
      const entry = await this.kv.get(tokenKey(digest(token)));
      if (!entry || entry.operation !== "PUT") return undefined;
      const grant = entry.json<RefreshGrant>();
      if (grant.client_id !== clientId) throw new OAuthError("unauthorized_client", "token was not issued to this client");
      const familyEntry = await this.kv.get(familyKey(grant.family));
      const family = familyEntry?.operation === "PUT" ? familyEntry.json<Family>() : undefined;
      await this.#revokeFamily(grant.family);
      const newestEntry = family?.latest ? await this.kv.get(tokenKey(family.latest)) : null;
      const newest = newestEntry?.operation === "PUT" ? newestEntry.json<RefreshGrant>() : undefined;
      return { grant, ...(newest && { newest }) };
    } catch (err) {
      return storeDown(err);
    }
  }

  #record(grant: Omit<RefreshGrant, "family" | "iat" | "exp" | "state">, family: string, ttl: number): { token: string; record: RefreshGrant } {
    const token = REFRESH_PREFIX + randomBytes(32).toString("base64url");
    const iat = this.now();
    return { token, record: { ...grant, family, iat, exp: iat + ttl, state: "active" } };
  }

  /** Whether the grant's subject, or the client it was issued to (a revoked workload), was revoked at or after its family started. */
  async #subjectRevoked(grant: RefreshGrant): Promise<boolean> {
    const lookup = this.subjectRevokedAt;
    if (!lookup) return false;
    const started = grant.family_iat ?? grant.iat;
    const principals = grant.client_id === grant.sub ? [grant.sub] : [grant.sub, grant.client_id];
    const revokedAt = await Promise.all(principals.map((p) => lookup(p)));
    return revokedAt.some((at) => begunBy(at, started));
  }

  /**
   * {@link #subjectRevoked}, started now to run beside the family's read (one NATS round trip instead of two). Read
   * only after the family's checks, which keep deciding first; a failure nobody reads is not an unhandled rejection.
   */
  #subjectRevokedSoon(grant: RefreshGrant): Promise<boolean> {
    const answer = this.#subjectRevoked(grant);
    answer.catch(() => undefined);
    return answer;
  }

  async #revokeFamily(family: string): Promise<void> {
    // Unconditional: a revocation wins over any rotation in flight (which then fails its compare-and-set).
    await this.kv.put(familyKey(family), JSON.stringify({ revoked: true, latest: "" } satisfies Family));
  }
}
