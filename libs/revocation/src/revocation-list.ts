/**
 * Revoked token ids and revoked subjects, in a NATS KV bucket every verifier
 * watches. Token entries are keyed by the encoded jti, never by the token
 * string: ES256 signatures are malleable, so one token has several valid
 * encodings but one jti. Subject entries live under `sub.<h(iss)>.<h(sub)>`,
 * h the base64url SHA-256: a key of fixed length whatever the identifiers
 * (NATS bounds subjects, so a long `sub` encoded whole could never be
 * stored), the identifiers themselves in the record. Signing keys an
 * operator withdrew live under `kid.<h(iss)>.<h(kid)>`: every token of that
 * issuer signed with that key is revoked, whenever it was signed, so
 * verifiers holding the issuer's JWKS in a cache (sidecars, the policy and
 * audit APIs) refuse it as soon as they see the record, as they do any
 * revocation. An encoded jti never holds a `.`, so the kinds cannot collide.
 */
import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { invalidGrant, unavailable } from "@sts/errors";
import { IllFormedStringError, encodeKey, isWriteConflict, stalenessNow, wellFormed } from "@sts/nats";

/** A revocation as stored. */
export interface RevocationRecord {
  jti: string;
  /** The token's own expiry; the entry is useless after it. */
  exp: number;
  revoked_at: number;
  /** Who revoked: a client id, or "family" for refresh token reuse. */
  by: string;
}

/**
 * A subject's revocation as stored: every token of the subject (`sub` as
 * vouched for by `iss`) issued at or before `revoked_at` is revoked.
 */
export interface SubjectRevocationRecord {
  /** The issuer that vouches for the subject: this stack's, or a trusted provider's (RFC 9493 `sub_id`). */
  iss: string;
  sub: string;
  revoked_at: number;
  /** Until when a token it covers may still be presented (revoked_at plus the longest lifetime); the entry is useless after it. */
  exp: number;
  /** The operator's client id. */
  by: string;
  reason?: string;
}

/**
 * A signing key's withdrawal as stored: every token `iss` signed with `kid` is revoked, whenever it was signed (the
 * key may have been compromised long before anyone noticed).
 */
export interface KeyWithdrawalRecord {
  /** The issuer whose key it is (this stack's). */
  iss: string;
  kid: string;
  /** When it was withdrawn (seconds). */
  revoked_at: number;
  /** When the last token the key could have signed expires; the entry is useless after it. */
  exp: number;
  /** The operator's client id. */
  by: string;
  /** Why, as the operator said: an issuer completing an interrupted withdrawal records it with the key. */
  reason?: string;
  /** The jti of the operator's access token, likewise recorded with the key by an issuer completing the withdrawal. */
  operator_jti?: string;
}

/** Any kind of record the revocations bucket holds. */
export type StoredRevocation = RevocationRecord | SubjectRevocationRecord | KeyWithdrawalRecord;

/** Prefix of subject revocation keys; never the start of an encoded jti (base64url has no `.`). */
const SUBJECT_KEY_PREFIX = "sub.";

/** Prefix of key withdrawal keys; likewise never the start of an encoded jti. */
const KEY_WITHDRAWAL_PREFIX = "kid.";

// UTF-8 turns every lone surrogate into U+FFFD: two subjects would share a key, and one's record overwrite the other's.
const digest = (value: string): string => createHash("sha256").update(wellFormed(value), "utf8").digest("base64url");

/** The key of a subject's revocation: one per subject, of fixed length; throws IllFormedStringError for a name that is not well-formed. */
export function subjectKey(iss: string, sub: string): string {
  return `${SUBJECT_KEY_PREFIX}${digest(iss)}.${digest(sub)}`;
}

/** True for the key of a subject's revocation. */
export function isSubjectKey(key: string): boolean {
  return key.startsWith(SUBJECT_KEY_PREFIX);
}

/** True for a subject's revocation (as opposed to a token's or a key's). */
export function isSubjectRevocation(r: StoredRevocation): r is SubjectRevocationRecord {
  return !("jti" in r) && !("kid" in r);
}

/** The key of a signing key's withdrawal: one per key, of fixed length; throws as subjectKey does. */
export function keyWithdrawalKey(iss: string, kid: string): string {
  return `${KEY_WITHDRAWAL_PREFIX}${digest(iss)}.${digest(kid)}`;
}

/** True for the key of a signing key's withdrawal. */
export function isKeyWithdrawalKey(key: string): boolean {
  return key.startsWith(KEY_WITHDRAWAL_PREFIX);
}

/** True for a signing key's withdrawal. */
export function isKeyWithdrawal(r: StoredRevocation): r is KeyWithdrawalRecord {
  return "kid" in r;
}

const isCommon = (r: Record<string, unknown>): boolean => typeof r.exp === "number" && typeof r.revoked_at === "number" && typeof r.by === "string";

/** A KV value read as JSON; undefined when it is not JSON. */
function jsonOrUndefined(read: () => unknown): unknown {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** Parses a stored token revocation. */
export function parseRevocation(raw: unknown): RevocationRecord | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  return typeof r.jti === "string" && isCommon(r) ? (raw as RevocationRecord) : undefined;
}

/** Parses a stored subject revocation. */
export function parseSubjectRevocation(raw: unknown): SubjectRevocationRecord | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const ok =
    r.jti === undefined &&
    r.kid === undefined &&
    typeof r.iss === "string" &&
    typeof r.sub === "string" &&
    (r.reason === undefined || typeof r.reason === "string");
  return ok && isCommon(r) ? (raw as SubjectRevocationRecord) : undefined;
}

/** Parses a stored key withdrawal. */
export function parseKeyWithdrawal(raw: unknown): KeyWithdrawalRecord | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  // A `reason` is not checked: a withdrawal refuses the key's tokens whatever else its record holds.
  const ok = r.jti === undefined && r.sub === undefined && typeof r.iss === "string" && typeof r.kid === "string";
  return ok && isCommon(r) ? (raw as KeyWithdrawalRecord) : undefined;
}

/** Parses the revocation stored under `key`: only the kind its key is for (a record of another kind is not read). */
export function parseRevocationUnder(raw: unknown, key: string): StoredRevocation | undefined {
  if (isKeyWithdrawalKey(key)) return parseKeyWithdrawal(raw);
  if (isSubjectKey(key)) return parseSubjectRevocation(raw);
  return parseRevocation(raw);
}

/**
 * A value under a revocation's key that this release cannot read. It still revokes what the key names (fail closed):
 * the jti, the signing key, or the subject's tokens begun until it was written. A class, so no JSON value is one.
 */
export class UnreadableRevocation {
  /** When the value was written (seconds since the epoch, the server's clock). */
  readonly writtenAt: number;

  constructor(created: Date) {
    this.writtenAt = secondsOf(created);
  }
}

/** Who withdrew a key whose withdrawal record cannot be read, as the issuer completing it records them. */
export const UNREADABLE_WITHDRAWAL_BY = "unknown (unreadable withdrawal record)";

/** A KV entry's write time in seconds, as revocation records count time. */
const secondsOf = (created: Date): number => Math.floor(created.getTime() / 1000);

/** The part of a NATS connection the guard watches. */
export interface ConnectionStatus {
  isConnected(): boolean;
  /** Calls `cb` at each change; may return what stops the calls (a NatsHandle does), which {@link StalenessGuard.stop} calls. */
  onStatusChange(cb: (connected: boolean) => void): unknown;
}

/** How current a watch-fed copy of the bucket is known to be (a {@link RevocationCache}). */
export interface CopyFreshness {
  /** When the copy was last seen to hold every write the bucket had (ms on the guard's clock); undefined before it loaded. */
  readonly confirmedAt: number | undefined;
  /** How often that is looked at (ms): the copy cannot be known fresher than one such period, and is allowed two. */
  readonly probeIntervalMs: number;
}

/**
 * How long this process has been cut off from new revocations. SECURITY.md:
 * verification-only paths may answer from cached revocations for a bounded
 * staleness, then fail closed. Two limits, each enough to refuse: how long
 * NATS has been unreachable, and how long ago the copy was last seen to hold
 * every write the bucket had, connected or not. The second alone bounds the
 * copy's age: a connection that comes back now and then (restarting the
 * count of the first) says nothing about a watch that stopped delivering (a
 * bucket made anew, a cluster node cut off from the stream's peers). Both
 * are measured on the staleness clock of @sts/nats, as the copies' own
 * confirmations are: a wall clock stepped back must not make them younger.
 */
export class StalenessGuard {
  #cutOffSince: number | undefined;
  readonly #stopListening: () => void;

  constructor(
    connection: ConnectionStatus,
    private readonly maxStalenessMs: number,
    /** The clock both limits are measured on (ms): a copy's confirmedAt must be read on it too. Default: stalenessNow. */
    private readonly now: () => number = stalenessNow,
  ) {
    if (!connection.isConnected()) this.#cutOffSince = now();
    const stop = connection.onStatusChange((connected) => {
      this.#cutOffSince = connected ? undefined : (this.#cutOffSince ?? this.now());
    });
    this.#stopListening = typeof stop === "function" ? (stop as () => void) : (): void => undefined;
  }

  /**
   * Stops following the connection, whose listener list would otherwise keep this guard, and what holds it, for the
   * connection's life: a reader stopped while its process and connection go on.
   */
  stop(): void {
    this.#stopListening();
  }

  /** Throws temporarily_unavailable once the revocation state (of `copy`, when given) may be older than allowed. */
  check(copy: Partial<CopyFreshness> = {}): void {
    const now = this.now();
    if (this.#cutOffSince !== undefined && now - this.#cutOffSince > this.maxStalenessMs) {
      throw unavailable("revocation state is out of date (NATS unreachable)");
    }
    if (copy.confirmedAt === undefined) return;
    // Two probe periods: one between looks, and one more so that a single slow or lost look is no outage. A copy
    // re-reads its bucket at each reconnect, which confirms it at once, so a short cut costs no request.
    if (now - copy.confirmedAt > this.maxStalenessMs + 2 * (copy.probeIntervalMs ?? 0)) {
      throw unavailable("revocation state is out of date (this copy is behind the bucket)");
    }
  }
}

/** Where revocations are read: a watch-fed copy of the bucket (a `RevocationCache`), looked up by jti, iss and sub as given. */
export interface RevocationLookup {
  /** Whether the token id is revoked. */
  isRevoked(jti: string): boolean;
  /** When the subject was revoked, if it was. */
  subjectRevokedAt(iss: string, sub: string): number | undefined;
  /** Whether the issuer's signing key was withdrawn (every token it signed is revoked). */
  isKeyWithdrawn(iss: string, kid: string): boolean;
}

/** A copy of the bucket that can say when it has applied one of the bucket's writes (a {@link RevocationCache}). */
export interface WriteFollower {
  /** Resolves true once the copy has applied the write at `revision`, false if `timeoutMs` passed first. */
  applied(revision: number, timeoutMs: number): Promise<boolean>;
}

/**
 * How long a write waits for this replica's own copy to apply it. The watch delivers in milliseconds; a copy further
 * behind has a stalled watch, which its probe replaces and the staleness guard bounds, and the write itself is durable.
 */
const APPLIED_WAIT_MS = 2_000;

/** A subject's revocation as the bucket holds it, and the revision a compare-and-set writes against (undefined: no entry). */
export interface StoredSubjectRevocation {
  revokedAt: number | undefined;
  revision: number | undefined;
}

/**
 * Reads through the watch-fed cache; writes to KV and fails closed. A write returns once this replica's copy has
 * applied it (RFC 7009 §2: the token cannot be used again after the revocation), so a caller's next request to the
 * replica that answered is refused; other replicas see it when their watches deliver it, in milliseconds.
 */
export class RevocationList {
  constructor(
    private readonly kv: KV,
    /**
     * With its freshness (a RevocationCache), a copy that fell behind the bucket fails closed too; able to follow
     * writes, it is waited for by each write.
     */
    private readonly cache: RevocationLookup & Partial<CopyFreshness> & Partial<WriteFollower>,
    /** When given, reads fail closed after the bounded staleness. */
    private readonly guard?: StalenessGuard,
  ) {}

  /** Whether a token id is revoked (as far as this replica has seen); throws temporarily_unavailable when that is too old to trust. */
  isRevoked(jti: string): boolean {
    return this.checked().isRevoked(jti);
  }

  /** When the subject was revoked (as far as this replica has seen), if it was; throws as isRevoked does. */
  subjectRevokedAt(iss: string, sub: string): number | undefined {
    return this.checked().subjectRevokedAt(iss, sub);
  }

  /** Whether the issuer's signing key was withdrawn (as far as this replica has seen); throws as isRevoked does. */
  isKeyWithdrawn(iss: string, kid: string): boolean {
    return this.checked().isKeyWithdrawn(iss, kid);
  }

  /** The copy's lookups, once the staleness guard let them through (throws as isRevoked does): one check for many lookups. */
  checked(): RevocationLookup {
    this.guard?.check(this.cache);
    return this.cache;
  }

  /** Waits (bounded) until this replica's copy holds the write at `revision`. */
  async #applied(revision: number): Promise<void> {
    await this.cache.applied?.(revision, APPLIED_WAIT_MS);
  }

  /**
   * Records a subject's revocation durably if its entry is still at `revision` (from storedSubjectRevocation;
   * undefined: there was none): false when another write came first, so that the caller reads again. Throws
   * temporarily_unavailable when NATS cannot take it, invalid_request for a name that is not well-formed Unicode.
   */
  async revokeSubject(record: SubjectRevocationRecord, revision: number | undefined): Promise<boolean> {
    const key = subjectKey(record.iss, record.sub);
    let written: number;
    try {
      written = revision === undefined ? await this.kv.create(key, JSON.stringify(record)) : await this.kv.update(key, JSON.stringify(record), revision);
    } catch (err) {
      if (isWriteConflict(err)) return false;
      throw unavailable("revocation store unavailable", err);
    }
    await this.#applied(written);
    return true;
  }

  /**
   * A subject's revocation as the bucket holds it now, with its revision; throws temporarily_unavailable when NATS
   * cannot answer, invalid_request for a name that is not well-formed Unicode.
   */
  async storedSubjectRevocation(iss: string, sub: string): Promise<StoredSubjectRevocation> {
    const { revokedAt, revision } = await this.#storedSubject(subjectKey(iss, sub));
    return { revokedAt, revision };
  }

  /** The entry under a subject's key: its record when readable, its revision, and when it was written (seconds). */
  async #storedSubject(key: string): Promise<StoredSubjectRevocation & { writtenAt?: number }> {
    try {
      const entry = await this.kv.get(key);
      // A deleted entry is written over with a create, which the client turns into an update of the delete marker.
      if (entry?.operation !== "PUT") return { revokedAt: undefined, revision: undefined };
      // Not JSON: written over like any record that is not a subject's revocation.
      const revokedAt = parseSubjectRevocation(jsonOrUndefined(() => entry.json()))?.revoked_at;
      return { revokedAt, revision: entry.revision, writtenAt: secondsOf(entry.created) };
    } catch (err) {
      throw unavailable("revocation store unavailable", err);
    }
  }

  /**
   * When the subject was revoked, read from the bucket itself rather than this replica's copy: for a grant that
   * would mint from state made before a revocation (a refresh token family, an assertion), where a watch a moment
   * behind must not let one more token out. A value under the subject's key that this release cannot read revokes as
   * of when it was written, as in the watched copy. Throws temporarily_unavailable when NATS cannot answer,
   * invalid_grant for a name that is not well-formed Unicode (no revocation could ever name that subject).
   */
  async storedSubjectRevokedAt(iss: string, sub: string): Promise<number | undefined> {
    let key: string;
    try {
      key = subjectKey(iss, sub);
    } catch (err) {
      if (err instanceof IllFormedStringError) throw invalidGrant("the subject or its issuer is not well-formed Unicode (a lone UTF-16 surrogate)", err);
      throw err;
    }
    const stored = await this.#storedSubject(key);
    return stored.revokedAt ?? stored.writtenAt;
  }

  /**
   * Records a signing key's withdrawal durably (the same record again for a retry: a put, no revision needed);
   * throws temporarily_unavailable when NATS cannot take it, invalid_request for a name that is not well-formed Unicode.
   */
  async withdrawKey(record: KeyWithdrawalRecord): Promise<void> {
    const key = keyWithdrawalKey(record.iss, record.kid);
    let written: number;
    try {
      written = await this.kv.put(key, JSON.stringify(record));
    } catch (err) {
      throw unavailable("revocation store unavailable", err);
    }
    await this.#applied(written);
  }

  /**
   * A signing key's withdrawal as the bucket holds it, read from the bucket itself (the operator's own words, for an
   * issuer completing a withdrawal that was cut off); a value under its key that cannot be read is one by
   * {@link UNREADABLE_WITHDRAWAL_BY}, written when the value was; throws temporarily_unavailable when NATS cannot answer,
   * invalid_request for a name that is not well-formed Unicode.
   */
  async storedKeyWithdrawal(iss: string, kid: string): Promise<KeyWithdrawalRecord | undefined> {
    const key = keyWithdrawalKey(iss, kid);
    let entry;
    try {
      entry = await this.kv.get(key);
    } catch (err) {
      throw unavailable("revocation store unavailable", err);
    }
    if (entry?.operation !== "PUT") return undefined;
    const record = parseKeyWithdrawal(jsonOrUndefined(() => entry.json()));
    if (record) return record;
    // A value this release cannot read withdraws the kid its key names, as the watched copies read it: the issuer
    // completes that withdrawal, by nobody it can name, rather than refuse to sign with its key for good.
    const writtenAt = secondsOf(entry.created);
    return { iss, kid, revoked_at: writtenAt, exp: writtenAt, by: UNREADABLE_WITHDRAWAL_BY };
  }

  /**
   * Records a token's revocation durably, once: a record already stored (by a retry of the same call, another
   * replica, an earlier call) stands with its own time and revoker. Returns the record stored, which the event of
   * the revocation is made from, so that every retry publishes the same one. Throws temporarily_unavailable when NATS
   * cannot take or read it, invalid_request for a jti that is not well-formed Unicode.
   */
  async revoke(record: RevocationRecord): Promise<RevocationRecord> {
    const key = encodeKey(record.jti);
    let stored: { record: RevocationRecord; revision: number };
    try {
      stored = await this.#stored(key, record);
    } catch (err) {
      throw unavailable("revocation store unavailable", err);
    }
    await this.#applied(stored.revision);
    return stored.record;
  }

  /** The revocation that stands under `key` once `record` is offered, and its revision. */
  async #stored(key: string, record: RevocationRecord): Promise<{ record: RevocationRecord; revision: number }> {
    // A deleted (swept) entry is written over by a create, which the client turns into an update of the marker.
    const created = await this.#created(key, record);
    if (created !== undefined) return { record, revision: created };
    const entry = await this.kv.get(key);
    const stored = entry?.operation === "PUT" ? parseRevocation(jsonOrUndefined(() => entry.json())) : undefined;
    if (entry && stored) return { record: stored, revision: entry.revision };
    // Gone again, or not a revocation: ours is written over it.
    return { record, revision: await this.kv.put(key, JSON.stringify(record)) };
  }

  /** Writes `record` under `key` unless something is there: its revision, or undefined when something was. */
  async #created(key: string, record: RevocationRecord): Promise<number | undefined> {
    try {
      return await this.kv.create(key, JSON.stringify(record));
    } catch (err) {
      if (isWriteConflict(err)) return undefined;
      throw err;
    }
  }
}
