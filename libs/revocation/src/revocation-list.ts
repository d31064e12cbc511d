/**
 * Revoked token ids, in a NATS KV bucket every verifier watches. Entries are
 * keyed by the encoded jti, never by the token string: ES256 signatures are
 * malleable, so one token has several valid encodings but one jti.
 */
import type { KV } from "@nats-io/kv";
import { unavailable } from "@sts/errors";
import { encodeKey } from "@sts/nats";
import type { KvCache } from "@sts/nats";

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

/** Reads through the watch-fed cache; writes to KV and fails closed. */
export class RevocationList {
  constructor(
    private readonly kv: KV,
    private readonly cache: KvCache<RevocationRecord>,
  ) {}

  /** Whether a token id is revoked (as far as this replica has seen). */
  isRevoked(jti: string): boolean {
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
