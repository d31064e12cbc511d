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
 * successor written, the family pointer moved (the commit point), and the old
 * token marked spent; the successor is answered only once both are stored. A
 * failure anywhere before the commit (NATS down, no durable event) leaves the
 * presented token the family's newest and usable for the client's retry,
 * instead of having the retry look like theft. A write whose answer was lost
 * may have been stored all the same (SECURITY.md), so it is read back: a
 * commit that landed completes the rotation. When that cannot be told (NATS
 * gone), the family may name a successor nobody was given; the presented
 * token, not marked spent, shows it, and its retry rotates again from it (see
 * check()). A successor that was never answered is never live.
 *
 * A family started at or before its subject was revoked (an operator's
 * RevokeSubject) is refused and revoked: a workload holding a refresh token
 * for a user who was signed out everywhere cannot refresh its way past it.
 * Every token of a family carries the family's start, so rotating after the
 * revocation does not make it look newer.
 *
 * Every revocation of a family is recorded before the answer that reports it
 * (an auditor must be able to follow each one): the revocation is stored with
 * the family first (why, by whom, when, which access tokens go with it), then
 * a recorder the caller passes revokes those access tokens and stores the
 * `refresh_family.revoked` event, made from that stored record. When it
 * cannot, the caller gets temporarily_unavailable and the family stays
 * revoked (the safe side) with its event pending: the next presentation of
 * any of its tokens, or of a revocation of one, records that same event, and
 * the family is then marked recorded so that later ones publish nothing.
 */
import { createHash, randomBytes } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { begunBy } from "@sts/jwt";
import { EVENT_TYPES, isWriteConflict, recordEventId } from "@sts/nats";
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
  /** The admin whose dedicated-issuer request started the family: its current `manages` bounds every refresh (absent otherwise, and in records made before it was kept). */
  admin_client_id?: string;
  /** The hash of the token this one succeeded (absent for a family's first, and in records made before it was kept). */
  parent?: string;
  /** Once spent: the hash of the successor its rotation answered (absent while active, and in records spent before it was kept). */
  successor?: string;
  state: "active" | "spent";
}

/** Why a refresh token family was revoked: the `reason` of its `refresh_family.revoked` event. */
export const FAMILY_REVOKED_REASONS = {
  /** Its client revoked one of its tokens (RFC 7009). */
  CLIENT_REQUEST: "client_request",
  /** A token of it that is no longer the newest was presented again (RFC 9700 §4.14.2): stolen, or replayed. */
  REUSE: "reuse",
  /** Its subject, or the client it was issued to, was revoked (RevokeSubject) at or after the family started. */
  SUBJECT_REVOKED: "subject_revoked",
} as const;

/** One reason a family was revoked. */
export type FamilyRevokedReason = (typeof FAMILY_REVOKED_REASONS)[keyof typeof FAMILY_REVOKED_REASONS];

/** An access token issued with a token of a family. */
export interface FamilyAccess {
  jti: string;
  exp: number;
}

/** A family's revocation, stored with the family: its event and the revocation of its access tokens are made from it. */
export interface FamilyRevocation {
  family: string;
  client_id: string;
  sub: string;
  reason: FamilyRevokedReason;
  /** When it was revoked (seconds). */
  revoked_at: number;
  /** The authenticated client whose request revoked it (on reuse: the one that presented the token again). */
  by: string;
  /** jti of the access token issued with the token presented: on reuse, which token of the family was replayed. */
  presented_access_jti: string;
  /**
   * Access tokens to revoke with it: those issued with any token of the family that may still be live, the one
   * presented, the newest and the rotations between (RFC 7009 §2.1; on reuse both the thief's and the legitimate
   * client's, RFC 9700 §4.14.2). None when its subject was revoked: that revocation already covers them.
   */
  access: FamilyAccess[];
}

/** Records a family's revocation durably (its access tokens revoked, its event stored); throws temporarily_unavailable when it cannot. */
export type RecordFamilyRevocation = (revocation: FamilyRevocation) => Promise<void>;

/** CloudEvents `data` of `refresh_family.revoked`: ids only, never a refresh or access token. */
export interface FamilyRevokedData {
  refresh_family: string;
  client_id: string;
  sub: string;
  reason: FamilyRevokedReason;
  revoked_by: string;
  revoked_at: number;
  presented_access_jti: string;
  /** The access tokens that go with the revocation (see FamilyRevocation.access): each revoked with its own `token.revoked`, unless expired by then. */
  access_jtis: string[];
}

/** The `refresh_family.revoked` event of a stored revocation, under an id made from the record: a retry stores the same event. */
export function familyRevokedEvent(r: FamilyRevocation): { data: FamilyRevokedData; id: string; time: Date } {
  return {
    data: {
      refresh_family: r.family,
      client_id: r.client_id,
      sub: r.sub,
      reason: r.reason,
      revoked_by: r.by,
      revoked_at: r.revoked_at,
      presented_access_jti: r.presented_access_jti,
      access_jtis: r.access.map((a) => a.jti),
    },
    id: recordEventId(EVENT_TYPES.REFRESH_FAMILY_REVOKED, [r.family, r.revoked_at, r.reason, r.by]),
    time: new Date(r.revoked_at * 1000),
  };
}

interface Family {
  revoked: boolean;
  /** The hash of its newest token (kept once revoked, so that a revocation finds the newest access token). */
  latest: string;
  /**
   * Access tokens issued with its tokens that may still be live, oldest first (at most {@link MAX_FAMILY_ACCESS};
   * absent in records made before it was kept): a revocation of the family revokes them all, the middle rotations'
   * too, which a thief who refreshed more than once holds.
   */
  access?: FamilyAccess[];
  /** Why it was revoked (absent while live, and in records revoked before it was kept). */
  revocation?: FamilyRevocation;
  /** Its revocation's event is stored. */
  recorded?: boolean;
}

/** What an RFC 7009 revocation of a refresh token did: revoked its family (or found it revoked), or left the token alone. */
export type RefreshRevocation = { grant: RefreshGrant; revocation: FamilyRevocation } | { ignored: "unknown" | "another_client" };

/** A family record as read, with the revision a compare-and-set writes against. */
interface StoredFamily {
  family: Family;
  revision: number;
}

/** A refresh token that passed every check and is not spent yet. */
export interface CheckedRefresh {
  grant: RefreshGrant;
  /** The presented token's hash. */
  readonly hash: string;
  readonly key: string;
  readonly revision: number;
  readonly familyRevision: number;
  /** The family's access tokens as read (see Family.access). */
  readonly familyAccess: readonly FamilyAccess[];
}

/** The access token issued with a refresh token. */
export interface IssuedAccess {
  access_jti: string;
  access_exp: number;
}

const digest = (token: string): string => createHash("sha256").update(token).digest("base64url");
const tokenKey = (hash: string): string => `rt.${hash}`;
const familyKey = (family: string): string => `fam.${family}`;

/** The one answer for a token that is not (or no longer) anyone's to use here: unknown, or another client's. */
const INVALID = "refresh token is invalid";

/** Writes of a family's revocation tried against other requests writing it at once, before giving up (temporarily_unavailable: retry). */
const WRITE_ATTEMPTS = 5;

/** Writes of a rotation's compare-and-set, each tried again only once the store shows the one before did not land. */
const SETTLE_ATTEMPTS = 2;

/** The access token issued with a grant, when its exp is known (records made before it was kept have none). */
function accessOf(grant: Pick<RefreshGrant, "access_jti" | "access_exp"> | undefined): FamilyAccess[] {
  return grant?.access_exp === undefined ? [] : [{ jti: grant.access_jti, exp: grant.access_exp }];
}

/**
 * Most access tokens a family keeps a record of. A client that refreshes more often than its access tokens expire
 * keeps several live at once; past this many, the oldest are left to expire on their own (at most one access-token
 * lifetime) rather than grow the family's record without bound.
 */
export const MAX_FAMILY_ACCESS = 32;

/** Seconds past its exp an access token is still kept for revocation: above any verifier's clock tolerance. */
const ACCESS_KEPT_PAST_EXP = 300;

/** Each access token once, in the order first listed. */
function uniqueAccess(access: readonly FamilyAccess[]): FamilyAccess[] {
  return access.filter((a, i) => access.findIndex((b) => b.jti === a.jti) === i);
}

/** The family's list after a rotation: expired ones (past any verifier's tolerance) left out, the newest {@link MAX_FAMILY_ACCESS}. */
function liveAccess(access: readonly FamilyAccess[], now: number): FamilyAccess[] {
  return uniqueAccess(access)
    .filter((a) => a.exp + ACCESS_KEPT_PAST_EXP > now)
    .slice(-MAX_FAMILY_ACCESS);
}

function storeDown(err: unknown): never {
  if (err instanceof OAuthError) throw err;
  throw unavailable("refresh token store unavailable", err);
}

/** When a subject of this stack was revoked, if it was, as the revocations bucket holds it (not a replica's copy). */
export type SubjectRevokedAt = (sub: string) => Promise<number | undefined>;

/** Default {@link RefreshTokenOptions.familyLifetime}: 30 days. */
export const DEFAULT_FAMILY_LIFETIME = 30 * 86_400;

/** Options of the refresh token store. */
export interface RefreshTokenOptions {
  /** Without it, subject revocations are not looked at (tests of rotation alone). */
  subjectRevokedAt?: SubjectRevokedAt;
  /**
   * Most seconds a family lives from its first token (`tokens.refresh_family_lifetime`): no rotation extends it.
   * Each token's own lifetime slides with use, so without this bound a client refreshing once a day would hold a
   * grant for ever (RFC 9700 §4.14.2 asks for refresh tokens that expire).
   */
  familyLifetime?: number;
}

/** The refresh token store. */
export class RefreshTokens {
  private readonly subjectRevokedAt: SubjectRevokedAt | undefined;
  private readonly familyLifetime: number;

  constructor(
    private readonly kv: KV,
    private readonly now: () => number,
    options: RefreshTokenOptions = {},
  ) {
    this.subjectRevokedAt = options.subjectRevokedAt;
    this.familyLifetime = options.familyLifetime ?? DEFAULT_FAMILY_LIFETIME;
  }

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
    try {
      await this.kv.create(tokenKey(digest(token)), JSON.stringify(record));
      await this.kv.create(familyKey(family), JSON.stringify({ revoked: false, latest: digest(token), access: accessOf(grant) } satisfies Family));
    } catch (err) {
      storeDown(err);
    }
    return { token, iat: record.iat, exp: record.exp, family };
  }

  /**
   * Checks a refresh token of `clientId` without spending it. Throws invalid_grant; a token that revokes its family
   * (a spent one, a family whose subject was revoked) does so only once `record` has recorded that revocation.
   */
  async check(token: string, clientId: string, record: RecordFamilyRevocation): Promise<CheckedRefresh> {
    if (!token.startsWith(REFRESH_PREFIX) || token.length > 128) throw invalidGrant(INVALID);
    const hash = digest(token);
    const key = tokenKey(hash);
    try {
      const entry = await this.kv.get(key);
      if (!entry || entry.operation !== "PUT") throw invalidGrant(INVALID);
      const grant = entry.json<RefreshGrant>();
      // RFC 6749 §6: the token must have been issued to the authenticated client. Answered as an unknown token: to a
      // caller holding a stolen one, another answer would confirm it is live for some other client.
      if (grant.client_id !== clientId) throw invalidGrant(INVALID, new Error("refresh token presented by another client than its own"));
      const subjectRevoked = this.#subjectRevokedSoon(grant);
      const familyEntry = await this.kv.get(familyKey(grant.family));
      const family = familyEntry?.operation === "PUT" ? familyEntry.json<Family>() : undefined;
      if (!familyEntry || !family) throw invalidGrant("refresh token family is revoked");
      if (family.revoked) {
        // Its revocation's event may have failed: recorded now, before this answer reports the family revoked.
        await this.#recordOnce(grant.family, { family, revision: familyEntry.revision }, record);
        throw invalidGrant("refresh token family is revoked");
      }
      if (grant.exp <= this.now()) throw invalidGrant("refresh token expired");
      // Only the newest token of a family is live: any other is a second use, however it is marked.
      if (grant.state === "spent" || !(await this.#isNewest(hash, grant, family))) {
        await this.#revokeFamily(grant, FAMILY_REVOKED_REASONS.REUSE, clientId, record);
        throw invalidGrant("refresh token reused: its family is revoked");
      }
      if (await subjectRevoked) {
        // Revoked for good: the subject's record leaves the bucket once no token it covers can live, the family's mark stays.
        await this.#revokeFamily(grant, FAMILY_REVOKED_REASONS.SUBJECT_REVOKED, clientId, record);
        throw invalidGrant("refresh token family is revoked: its subject was signed out");
      }
      return { grant, hash, key, revision: entry.revision, familyRevision: familyEntry.revision, familyAccess: family.access ?? accessOf(grant) };
    } catch (err) {
      return storeDown(err);
    }
  }

  /**
   * Issues the successor of a checked token in the same family and spends
   * the old one. The family pointer's compare-and-set is the single-use
   * guarantee: of two uses of the same token, one moves it and the other
   * finds it moved, which revokes the family. The successor is answered only
   * once the old token is marked spent (see check()).
   */
  async rotate(
    checked: CheckedRefresh,
    access: IssuedAccess,
    ttl: number,
    recordRevocation: RecordFamilyRevocation,
  ): Promise<{ token: string; iat: number; exp: number }> {
    const { grant } = checked;
    const kept = { client_id: grant.client_id, sub: grant.sub, scope: grant.scope, aud: grant.aud, ...access };
    const { token, record } = this.#record(
      { ...kept, ...(grant.admin_client_id !== undefined && { admin_client_id: grant.admin_client_id }), parent: checked.hash },
      grant.family,
      ttl,
      grant.family_iat ?? grant.iat,
    );
    const successor = digest(token);
    try {
      // The successor first: should anything below fail, it is an orphan no one holds, and the presented token stays the newest.
      await this.kv.create(tokenKey(successor), JSON.stringify(record));
      const next = { revoked: false, latest: successor, access: liveAccess([...checked.familyAccess, ...accessOf(access)], this.now()) } satisfies Family;
      const committed = await this.#settledUpdate(familyKey(grant.family), next, checked.familyRevision, (f) => !f.revoked && f.latest === successor);
      if (!committed) {
        // The family moved since the check: another use of this token rotated it (a second use), or it was revoked
        // (then that revocation stands, and is what gets recorded).
        await this.#revokeFamily(grant, FAMILY_REVOKED_REASONS.REUSE, grant.client_id, recordRevocation);
        throw invalidGrant("refresh token reused: its family is revoked");
      }
      // Committed, but answered only once the presented token is marked spent: until then check() takes its retry
      // for what it is, a retry (this successor is then passed over, never having been handed out). The mark names
      // the successor, so that of two uses of the token that both got past check() in that window (the second read
      // the family already moved and took itself for a retry), only the one whose mark stands is answered: a mark
      // naming another successor is the other use's, and this one is the second use (RFC 9700 §4.14.2).
      const spentMark = { ...grant, state: "spent", successor } satisfies RefreshGrant;
      const spent = await this.#settledUpdate(checked.key, spentMark, checked.revision, (g) => g.state === "spent" && g.successor === successor);
      if (!spent) {
        await this.#revokeFamily(grant, FAMILY_REVOKED_REASONS.REUSE, grant.client_id, recordRevocation);
        throw invalidGrant("refresh token reused: its family is revoked");
      }
    } catch (err) {
      storeDown(err);
    }
    return { token, iat: record.iat, exp: record.exp };
  }

  /**
   * RFC 7662 for refresh tokens: the grant of a live token (the newest of a family not revoked, not expired), else
   * undefined. The newest by the family's pointer, as check() reads it, not by the token's spent mark alone, which is
   * written after the rotation's commit and may be lost: a rotated token is never live again.
   */
  async inspect(token: string): Promise<RefreshGrant | undefined> {
    if (!token.startsWith(REFRESH_PREFIX) || token.length > 128) return undefined;
    try {
      const hash = digest(token);
      const entry = await this.kv.get(tokenKey(hash));
      if (!entry || entry.operation !== "PUT") return undefined;
      const grant = entry.json<RefreshGrant>();
      if (grant.state !== "active" || grant.exp <= this.now()) return undefined;
      const subjectRevoked = this.#subjectRevokedSoon(grant);
      const familyEntry = await this.kv.get(familyKey(grant.family));
      const family = familyEntry?.operation === "PUT" ? familyEntry.json<Family>() : undefined;
      return family && !family.revoked && (await this.#isNewest(hash, grant, family)) && !(await subjectRevoked) ? grant : undefined;
    } catch (err) {
      return storeDown(err);
    }
  }

  /**
   * RFC 7009: revokes the family of a refresh token of `clientId`, recorded by `record` (with the access tokens issued
   * with it and with the newest token of its family, §2.1) before this resolves. Answers the grant presented and the
   * family's revocation (an earlier one when the family was revoked before: it stands), or why the token was left
   * alone: unknown here, or another client's.
   */
  async revoke(token: string, clientId: string, record: RecordFamilyRevocation): Promise<RefreshRevocation> {
    if (!token.startsWith(REFRESH_PREFIX) || token.length > 128) return { ignored: "unknown" };
    try {
      const entry = await this.kv.get(tokenKey(digest(token)));
      if (!entry || entry.operation !== "PUT") return { ignored: "unknown" };
      const grant = entry.json<RefreshGrant>();
      // Left alone, and answered by the caller as an unknown token is (RFC 7009 §2.2): an error would tell whoever
      // holds a stolen token that it is live for some other client, as the refresh grant never does.
      if (grant.client_id !== clientId) return { ignored: "another_client" };
      const revocation = await this.#revokeFamily(grant, FAMILY_REVOKED_REASONS.CLIENT_REQUEST, clientId, record);
      return { grant, revocation };
    } catch (err) {
      return storeDown(err);
    }
  }

  /** A new token of `family`, begun at `familyIat` (now for its first): it expires `ttl` from now, never past the family's lifetime. */
  #record(
    grant: Omit<RefreshGrant, "family" | "iat" | "exp" | "state">,
    family: string,
    ttl: number,
    familyIat?: number,
  ): { token: string; record: RefreshGrant } {
    const token = REFRESH_PREFIX + randomBytes(32).toString("base64url");
    const iat = this.now();
    const begun = familyIat ?? iat;
    const exp = Math.min(iat + ttl, begun + this.familyLifetime);
    return { token, record: { ...grant, family, iat, exp, family_iat: begun, state: "active" } };
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

  /**
   * Revokes the family of `grant` for `reason` (a revocation already stored stands, with its own reason and time),
   * then has `record` record it, once. Resolves to the revocation stored.
   */
  async #revokeFamily(grant: RefreshGrant, reason: FamilyRevokedReason, by: string, record: RecordFamilyRevocation): Promise<FamilyRevocation> {
    const stored = await this.#storeRevocation(grant, reason, by);
    await this.#recordOnce(grant.family, stored, record);
    return stored.revocation;
  }

  /**
   * Writes the family's revocation with a compare-and-set against the revision read: it wins over any rotation in
   * flight (whose own compare-and-set then fails), and of two revocations at once the first stays, so that every
   * retry records the same event. A family revoked by an earlier release (no revocation kept) gets one now.
   */
  async #storeRevocation(grant: RefreshGrant, reason: FamilyRevokedReason, by: string): Promise<StoredFamily & { revocation: FamilyRevocation }> {
    const key = familyKey(grant.family);
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const entry = await this.kv.get(key);
      const current = entry?.operation === "PUT" ? entry.json<Family>() : undefined;
      if (entry && current?.revoked && current.revocation) return { family: current, revision: entry.revision, revocation: current.revocation };
      const newest = current?.latest ? await this.#grantAt(current.latest) : undefined;
      const revocation = this.#revocation(grant, [...(current?.access ?? []), ...accessOf(newest)], reason, by);
      const family = { revoked: true, latest: current?.latest ?? "", revocation } satisfies Family;
      try {
        // A deleted entry is written over by a create, which the client turns into an update of the delete marker.
        const revision =
          entry?.operation === "PUT" ? await this.kv.update(key, JSON.stringify(family), entry.revision) : await this.kv.create(key, JSON.stringify(family));
        return { family, revision, revocation };
      } catch (err) {
        if (!isWriteConflict(err)) throw err;
      }
    }
    throw unavailable("the refresh token family kept being written by other requests at the same time; retry");
  }

  /** The revocation of `grant`'s family; `family` are the access tokens issued with its other tokens. */
  #revocation(grant: RefreshGrant, family: readonly FamilyAccess[], reason: FamilyRevokedReason, by: string): FamilyRevocation {
    // A subject's revocation already ends every access token of the family: nothing more to revoke.
    const access = reason === FAMILY_REVOKED_REASONS.SUBJECT_REVOKED ? [] : uniqueAccess([...family, ...accessOf(grant)]);
    return {
      family: grant.family,
      client_id: grant.client_id,
      sub: grant.sub,
      reason,
      revoked_at: this.now(),
      by,
      presented_access_jti: grant.access_jti,
      access,
    };
  }

  /** Has a stored revocation whose event is not known to be stored recorded, then marks it recorded. */
  async #recordOnce(family: string, stored: StoredFamily, record: RecordFamilyRevocation): Promise<void> {
    const { revocation } = stored.family;
    if (!revocation || stored.family.recorded) return;
    await record(revocation);
    // Best effort: without the mark, a later presentation records the same event again (the same id).
    const marked = { ...stored.family, recorded: true } satisfies Family;
    await this.kv.update(familyKey(family), JSON.stringify(marked), stored.revision).catch(() => undefined);
  }

  /**
   * Whether the token hashed `hash` is its family's newest: the family names it, or names a successor of it that was
   * never answered. rotate() answers a successor only once the token it replaces is marked spent, so a token still
   * active whose successor the family names had that rotation's answer lost (NATS failed after the commit, and the
   * family could not be read back): the client never got the successor, and presenting the token again is its retry,
   * not a second use. Its rotation moves the family on from that successor, which nobody holds, and spends the token
   * as any rotation does, so of the client and a thief replaying the token one rotates and the other revokes the
   * family, as with any token used twice. A token whose successor was answered is marked spent, and is a second use.
   */
  async #isNewest(hash: string, grant: RefreshGrant, family: Family): Promise<boolean> {
    if (family.latest === hash) return true;
    if (grant.state !== "active") return false;
    const successor = await this.#grantAt(family.latest);
    return successor?.parent === hash && successor.state === "active";
  }

  /**
   * A compare-and-set against `revision` whose answer may be lost: a write that timed out or lost its connection may
   * have been stored all the same (SECURITY.md), so the key is read back. True once `landed` holds for what it holds;
   * false when another write moved it first (what a conflict answers); still at `revision`, it is written again. Throws
   * the store's error when it cannot tell.
   */
  async #settledUpdate<T>(key: string, value: T, revision: number, landed: (stored: T) => boolean): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      let failure: unknown;
      try {
        await this.kv.update(key, JSON.stringify(value), revision);
        return true;
      } catch (err) {
        failure = err;
      }
      const entry = await this.kv.get(key);
      if (entry?.operation === "PUT" && landed(entry.json<T>())) return true;
      if (entry?.revision !== revision) return false;
      if (attempt >= SETTLE_ATTEMPTS) throw failure;
    }
  }

  /** The grant of a token by its hash, if it is still stored. */
  async #grantAt(hash: string): Promise<RefreshGrant | undefined> {
    const entry = await this.kv.get(tokenKey(hash));
    return entry?.operation === "PUT" ? entry.json<RefreshGrant>() : undefined;
  }
}
