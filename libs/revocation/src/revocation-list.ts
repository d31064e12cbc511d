/**
 * Revoked token ids and revoked subjects, in a NATS KV bucket every verifier
 * watches. Token entries are keyed by the encoded jti, never by the token
 * string: ES256 signatures are malleable, so one token has several valid
 * encodings but one jti. Subject entries live under `sub.<iss>.<sub>`, both
 * encoded: an encoded jti never holds a `.`, so the two kinds cannot collide.
 */
import type { KV } from "@nats-io/kv";
import { unavailable } from "@sts/errors";
import { encodeKey } from "@sts/nats";

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

/** Either kind of record the revocations bucket holds. */
export type StoredRevocation = RevocationRecord | SubjectRevocationRecord;

/** Prefix of subject revocation keys; never the start of an encoded jti (base64url has no `.`). */
const SUBJECT_KEY_PREFIX = "sub.";

/** The key of a subject's revocation. */
export function subjectKey(iss: string, sub: string): string {
  return `${SUBJECT_KEY_PREFIX}${encodeKey(iss)}.${encodeKey(sub)}`;
}

/** True for the key of a subject's revocation. */
export function isSubjectKey(key: string): boolean {
  return key.startsWith(SUBJECT_KEY_PREFIX);
}

/** True for a subject's revocation (as opposed to a token's). */
export function isSubjectRevocation(r: StoredRevocation): r is SubjectRevocationRecord {
  return !("jti" in r);
}

const isCommon = (r: Record<string, unknown>): boolean => typeof r.exp === "number" && typeof r.revoked_at === "number" && typeof r.by === "string";

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
  const ok = r.jti === undefined && typeof r.iss === "string" && typeof r.sub === "string" && (r.reason === undefined || typeof r.reason === "string");
  return ok && isCommon(r) ? (raw as SubjectRevocationRecord) : undefined;
}

/** Parses either kind of stored revocation. */
export function parseStoredRevocation(raw: unknown): StoredRevocation | undefined {
  return parseRevocation(raw) ?? parseSubjectRevocation(raw);
}

/** The part of a NATS connection the guard watches. */
export interface ConnectionStatus {
  isConnected(): boolean;
  onStatusChange(cb: (connected: boolean) => void): void;
}

/**
 * How long this process has been cut off from NATS, and so from new
 * revocations. SECURITY.md: verification-only paths may answer from cached
 * revocations for a bounded staleness, then fail closed.
 */
export class StalenessGuard {
  #cutOffSince: number | undefined;

  constructor(
    connection: ConnectionStatus,
    private readonly maxStalenessMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!connection.isConnected()) this.#cutOffSince = now();
    connection.onStatusChange((connected) => {
      this.#cutOffSince = connected ? undefined : (this.#cutOffSince ?? this.now());
    });
  }

  /** Throws temporarily_unavailable once the revocation state may be older than allowed. */
  check(): void {
    if (this.#cutOffSince !== undefined && this.now() - this.#cutOffSince > this.maxStalenessMs) {
      throw unavailable("revocation state is out of date (NATS unreachable)");
    }
  }
}

/** Where revocations are read: a watch-fed copy of the bucket (a `RevocationCache`). */
export interface RevocationLookup {
  /** The record under an (already encoded) key. */
  get(key: string): StoredRevocation | undefined;
  /** When the subject was revoked, if it was. */
  subjectRevokedAt(iss: string, sub: string): number | undefined;
}

/** Reads through the watch-fed cache; writes to KV and fails closed. */
export class RevocationList {
  constructor(
    private readonly kv: KV,
    private readonly cache: RevocationLookup,
    /** When given, reads fail closed after the bounded staleness. */
    private readonly guard?: StalenessGuard,
  ) {}

  /** Whether a token id is revoked (as far as this replica has seen); throws temporarily_unavailable when that is too old to trust. */
  isRevoked(jti: string): boolean {
    this.guard?.check();
    return this.cache.get(encodeKey(jti)) !== undefined;
  }

  /** When the subject was revoked (as far as this replica has seen), if it was; throws as isRevoked does. */
  subjectRevokedAt(iss: string, sub: string): number | undefined {
    this.guard?.check();
    return this.cache.subjectRevokedAt(iss, sub);
  }

  /** Records a revocation durably; throws temporarily_unavailable when NATS cannot take it. */
  async revoke(record: RevocationRecord): Promise<void> {
    await this.#put(encodeKey(record.jti), record);
  }

  /** Records a subject's revocation durably; throws temporarily_unavailable when NATS cannot take it. */
  async revokeSubject(record: SubjectRevocationRecord): Promise<void> {
    await this.#put(subjectKey(record.iss, record.sub), record);
  }

  /**
   * When the subject was revoked, read from the bucket itself rather than this replica's copy: for a grant that
   * would mint from state made before a revocation (a refresh token family), where a watch a moment behind must not
   * let one more token out. Throws temporarily_unavailable when NATS cannot answer.
   */
  async storedSubjectRevokedAt(iss: string, sub: string): Promise<number | undefined> {
    let raw: unknown;
    try {
      const entry = await this.kv.get(subjectKey(iss, sub));
      raw = entry?.operation === "PUT" ? entry.json() : undefined;
    } catch (err) {
      throw unavailable("revocation store unavailable", err);
    }
    return parseSubjectRevocation(raw)?.revoked_at;
  }

  async #put(key: string, record: StoredRevocation): Promise<void> {
    try {
      await this.kv.put(key, JSON.stringify(record));
    } catch (err) {
      throw unavailable("revocation store unavailable", err);
    }
  }
}
