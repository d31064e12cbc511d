/**
 * Revoked token ids, in a NATS KV bucket every verifier watches. Entries are
 * keyed by the encoded jti, never by the token string: ES256 signatures are
 * malleable, so one token has several valid encodings but one jti.
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

/** Parses a stored revocation. */
export function parseRevocation(raw: unknown): RevocationRecord | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.jti !== "string" || typeof r.exp !== "number" || typeof r.revoked_at !== "number" || typeof r.by !== "string") return undefined;
  return raw as RevocationRecord;
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

/** Where revocations are read, by encoded key: a watch-fed copy of the bucket (a `KvCache` or a `RevocationCache`). */
export interface RevocationLookup {
  get(key: string): RevocationRecord | undefined;
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

  /** Records a revocation durably; throws temporarily_unavailable when NATS cannot take it. */
  async revoke(record: RevocationRecord): Promise<void> {
    try {
      await this.kv.put(encodeKey(record.jti), JSON.stringify(record));
    } catch (err) {
      throw unavailable("revocation store unavailable", err);
    }
  }
}
