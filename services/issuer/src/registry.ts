/**
 * The client registry: records in NATS KV, read through a watch-fed cache so
 * every replica sees a change at once. Config-declared clients are seeded at
 * start; a record is rewritten only when its config entry changed, and one
 * whose entry left the file is retired (see {@link ClientRegistry.retire}):
 * a marker takes its place, so that a replica still starting on an older
 * file does not seed the same entry again.
 */
import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import type { ClientConfig } from "@sts/config";
import { parseClientRecord, verifySecret } from "@sts/client-auth";
import type { ClientRecord } from "@sts/client-auth";
import { EVENT_TYPES, encodeKey, isWellFormed, isWriteConflict, recordEventId } from "@sts/nats";
import type { EventPublisher } from "@sts/nats";
import { toClientRecord } from "./client-records.js";
import { readEntry } from "./client-store.js";
import type { KvCache } from "@sts/nats";

/** Who retires a client the config file no longer declares, in its `client.deleted` and `subject.revoked` events. */
export const CONFIG_FILE = "config";

/**
 * What stands under a retired client's key: the entry it was seeded from (the digest, and the secret's scrypt hash, as
 * the record held them). No client cache reads it as a record, so it grants nothing.
 */
interface Retirement {
  client_id: string;
  seed_digest: string;
  secret_hash?: string;
  retired_at: number;
}

/** The retirement marker in a stored value, if it is one. */
function retirementIn(raw: unknown): Retirement | undefined {
  const r = (raw as { retired?: Partial<Retirement> } | null)?.retired;
  if (typeof r?.client_id !== "string" || typeof r.seed_digest !== "string") return undefined;
  return r as Retirement;
}

/** Whether a declared secret (none: nothing to compare) is the one whose scrypt hash is on record. */
function sameSecret(hash: string | undefined, secret: string | undefined): Promise<boolean> {
  if (secret === undefined) return Promise.resolve(true);
  return hash === undefined ? Promise.resolve(false) : verifySecret(hash, secret);
}

/** What seeding did: how many records it wrote, and the retired clients it left retired though the file declares them. */
export interface Seeding {
  written: number;
  keptRetired: string[];
}

/** What retiring clients needs. */
export interface RetireDeps {
  /** Revokes the id as a subject (every token issued for it so far), in the config file's name; resolves once recorded. */
  revokeSubject: (clientId: string) => Promise<void>;
  events: EventPublisher;
}

/** Lookup and seeding of client records. */
export class ClientRegistry {
  constructor(
    private readonly kv: KV,
    private readonly cache: KvCache<ClientRecord>,
    private readonly now: () => number,
    /** Removes a record's earlier revisions (see seed). */
    private readonly dropHistory: (key: string) => Promise<void>,
  ) {}

  /** The record of a client, or undefined. */
  lookup(clientId: string): ClientRecord | undefined {
    // No client's id holds a lone surrogate (none could be registered): such an id names no client, which is the
    // position's own answer (invalid_client for a client assertion's iss), not a 400 from the key encoding.
    if (!isWellFormed(clientId)) return undefined;
    return this.cache.get(encodeKey(clientId));
  }

  /** How many clients `adminId` registered through the API: those the config file declares with it as admin are its operator's. */
  registeredBy(adminId: string): number {
    let count = 0;
    for (const c of this.cache.values()) if (c.admin_client_id === adminId && c.seed_digest === undefined) count++;
    return count;
  }

  /**
   * Writes config-declared clients whose entry changed since the last seed. A secret in clear is never part of the
   * stored digest (next to the record, an unsalted hash of it would let whoever reads the bucket test guesses at
   * SHA-256 speed instead of scrypt's): it is checked against the stored scrypt hash instead.
   *
   * A client retired since (see retire) stays retired while the file declares the very entry it was retired from: a
   * replica still starting on the older file of a rolling deploy, or rolled back to it, must not bring back a client
   * the operator decommissioned, with the secret that may have leaked. An entry changed in anything (a new secret, new
   * keys) is seeded again.
   */
  async seed(clients: readonly ClientConfig[]): Promise<Seeding> {
    let written = 0;
    const keptRetired: string[] = [];
    for (const c of clients) {
      const { client_secret: secret, ...described } = c;
      const digest = createHash("sha256").update(JSON.stringify(described)).digest("base64url");
      const stored = this.lookup(c.client_id) ?? (await this.#read(c.client_id));
      const retired = stored && "retired" in stored ? stored.retired : undefined;
      const existing = stored && !("retired" in stored) ? stored : undefined;
      // The entry on record, as a client or as a retirement: the same entry again changes nothing, nor brings one back.
      const onRecord = retired ?? existing;
      if (onRecord?.seed_digest === digest && (await sameSecret(onRecord.secret_hash, secret))) {
        if (retired) keptRetired.push(c.client_id);
        continue;
      }
      const record: ClientRecord = { ...(await toClientRecord(c, { ...(existing && { previous: existing }), now: this.now() })), seed_digest: digest };
      await this.kv.put(encodeKey(c.client_id), JSON.stringify(record));
      // Earlier revisions may hold a digest over the secret in clear (an earlier release's) or a replaced secret's hash.
      if (existing) await this.dropHistory(encodeKey(c.client_id));
      written++;
    }
    return { written, keptRetired };
  }

  /**
   * Retires every client an earlier start seeded from the config file (its record has a `seed_digest`) that the file no
   * longer declares: removing an entry is how an operator decommissions a client, or ends a leaked secret, so the
   * client must stop working, not live on in the bucket. As a deletion through the registration API does (RFC 7592
   * §2.3), its id is revoked as a subject first (its tokens, refresh families and the hops made from them end with it,
   * and a client given the id later inherits none of them), then `client.deleted` is stored, then a retirement marker
   * replaces the record (what seed holds an older file's entry to). A step that fails throws, and the issuer does not
   * start: the next start repeats every step, the event under the same id. Returns the ids retired.
   */
  async retire(declared: readonly ClientConfig[], deps: RetireDeps): Promise<string[]> {
    const kept = new Set(declared.map((c) => c.client_id));
    const retired: string[] = [];
    for (const record of this.cache.values()) {
      if (record.seed_digest === undefined || kept.has(record.client_id)) continue;
      const entry = await readEntry(this.kv, record.client_id);
      if (!entry || !("record" in entry) || entry.record.seed_digest === undefined) continue;
      await deps.revokeSubject(record.client_id);
      const id = recordEventId(EVENT_TYPES.CLIENT_DELETED, [record.client_id, CONFIG_FILE, entry.revision, entry.record.updated_at]);
      await deps.events.publish(EVENT_TYPES.CLIENT_DELETED, { client_id: record.client_id, by: CONFIG_FILE }, { subject: record.client_id, id });
      const { seed_digest, secret_hash } = entry.record;
      const retirement: Retirement = { client_id: record.client_id, seed_digest, ...(secret_hash !== undefined && { secret_hash }), retired_at: this.now() };
      try {
        await this.kv.update(encodeKey(record.client_id), JSON.stringify({ retired: retirement }), entry.revision);
      } catch (err) {
        // Another replica starting at the same moment retired it, or one still declaring it wrote it again: its call.
        if (!isWriteConflict(err)) throw err;
        continue;
      }
      retired.push(record.client_id);
    }
    return retired;
  }

  /** The record, or the retirement marker, the bucket itself holds under a client's id. */
  async #read(clientId: string): Promise<ClientRecord | { retired: Retirement } | undefined> {
    const entry = await this.kv.get(encodeKey(clientId));
    if (entry?.operation !== "PUT") return undefined;
    let raw: unknown;
    try {
      raw = entry.json();
    } catch {
      return undefined;
    }
    // A tombstone of client management, or a value this release cannot read, is neither: seeding writes over it.
    const retired = retirementIn(raw);
    return retired ? { retired } : parseClientRecord(raw);
  }
}
