/**
 * The client registry: records in NATS KV, read through a watch-fed cache so
 * every replica sees a change at once. Config-declared clients are seeded at
 * start; a record is rewritten only when its config entry changed, and one
 * whose entry left the file is retired (see {@link ClientRegistry.retire}):
 * a marker takes its place, so that a replica still starting on an older
 * file does not seed the same entry again. Each record and marker carries the
 * `config_revision` of the file that wrote it: a replica on a file of a lower
 * revision leaves it as it is, so that an older file restarted mid-rollout
 * neither retires nor rewrites what a newer one declared.
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
  /** `config_revision` of the file that retired the client; absent: 0. */
  seed_revision?: number;
}

/** What the bucket holds under a client's key, and the revision a compare-and-set replaces. */
interface Stored {
  revision: number;
  value: ClientRecord | { retired: Retirement } | undefined;
}

/** Writes of one client's key that may meet another replica's before this start gives up (and the next one tries). */
const MAX_WRITE_ATTEMPTS = 5;

/** The config revision a record or marker was seeded from: 0 for one that was not (a registered client), or one written before revisions. */
function seededRevision(value: { seed_digest?: string; seed_revision?: unknown } | undefined): number {
  const revision = value?.seed_digest === undefined ? undefined : value.seed_revision;
  return typeof revision === "number" && Number.isSafeInteger(revision) && revision > 0 ? revision : 0;
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

/** A client left as a config file of a higher revision than this replica's wrote it. */
export interface NewerEntry {
  client_id: string;
  /** The revision of the file that wrote its record or retirement. */
  seed_revision: number;
}

/**
 * What seeding did: how many records it wrote, the retired clients it left retired though the file declares them,
 * and the clients it left as a newer file wrote them.
 */
export interface Seeding {
  written: number;
  keptRetired: string[];
  keptNewer: NewerEntry[];
}

/** What retiring clients needs. */
export interface RetireDeps {
  /** Revokes the id as a subject (every token issued for it so far), in the config file's name; resolves once recorded. */
  revokeSubject: (clientId: string) => Promise<void>;
  events: EventPublisher;
  /** Told of each client not retired because a file of a higher revision than this replica's seeded it (for the log). */
  onNewer?: (left: NewerEntry) => void;
}

/** Lookup and seeding of client records. */
export class ClientRegistry {
  constructor(
    private readonly kv: KV,
    private readonly cache: KvCache<ClientRecord>,
    private readonly now: () => number,
    /** Removes a record's earlier revisions (see seed). */
    private readonly dropHistory: (key: string) => Promise<void>,
    /** The config file's `config_revision`: what this replica's seed and retire write, and yield to a higher one. */
    private readonly configRevision = 0,
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
   * keys) is seeded again, unless what the bucket holds was written from a file of a higher `config_revision`: an
   * older file does not undo a newer one's change.
   *
   * Each decision is made on what the bucket holds, and written as a compare-and-set against it: a replica of another
   * revision writing the same key meanwhile makes this one read it again and decide anew.
   */
  async seed(clients: readonly ClientConfig[]): Promise<Seeding> {
    const seeding: Seeding = { written: 0, keptRetired: [], keptNewer: [] };
    for (const c of clients) {
      const outcome = await this.#seedOne(c);
      if (outcome === "written") seeding.written++;
      else if (outcome === "kept-retired") seeding.keptRetired.push(c.client_id);
      else if (outcome !== "unchanged") seeding.keptNewer.push(outcome);
    }
    return seeding;
  }

  /** Seeds one client: see seed. */
  async #seedOne(c: ClientConfig): Promise<"written" | "unchanged" | "kept-retired" | NewerEntry> {
    const { client_secret: secret, ...described } = c;
    const digest = createHash("sha256").update(JSON.stringify(described)).digest("base64url");
    const key = encodeKey(c.client_id);
    // The common start: the watched copy already holds this very entry, and nothing is written, so the bucket is not
    // read for it. Whatever is to be written is decided on what the bucket holds.
    const cached = this.lookup(c.client_id);
    if (cached?.seed_digest === digest && (await sameSecret(cached.secret_hash, secret))) return "unchanged";
    for (let attempt = 1; ; attempt++) {
      const stored = await this.#read(c.client_id);
      const retired = stored?.value && "retired" in stored.value ? stored.value.retired : undefined;
      const existing = stored?.value && !("retired" in stored.value) ? stored.value : undefined;
      // The entry on record, as a client or as a retirement: the same entry again changes nothing, nor brings one back.
      const onRecord = retired ?? existing;
      if (onRecord?.seed_digest === digest && (await sameSecret(onRecord.secret_hash, secret))) return retired ? "kept-retired" : "unchanged";
      const theirs = seededRevision(onRecord);
      if (theirs > this.configRevision) return { client_id: c.client_id, seed_revision: theirs };
      const record: ClientRecord = {
        ...(await toClientRecord(c, { ...(existing && { previous: existing }), now: this.now() })),
        seed_digest: digest,
        // Left out at 0, so that records of files without a revision are written as before.
        ...(this.configRevision > 0 && { seed_revision: this.configRevision }),
      };
      try {
        if (stored) await this.kv.update(key, JSON.stringify(record), stored.revision);
        else await this.kv.create(key, JSON.stringify(record));
      } catch (err) {
        // Another replica wrote the key since it was read: what it wrote may be a newer file's, so read it again.
        if (!isWriteConflict(err) || attempt >= MAX_WRITE_ATTEMPTS) throw err;
        continue;
      }
      // Earlier revisions may hold a digest over the secret in clear (an earlier release's) or a replaced secret's hash.
      if (existing) await this.dropHistory(key);
      return "written";
    }
  }

  /**
   * Retires every client an earlier start seeded from the config file (its record has a `seed_digest`) that the file no
   * longer declares: removing an entry is how an operator decommissions a client, or ends a leaked secret, so the
   * client must stop working, not live on in the bucket. As a deletion through the registration API does (RFC 7592
   * §2.3), its id is revoked as a subject first (its tokens, refresh families and the hops made from them end with it,
   * and a client given the id later inherits none of them), then `client.deleted` is stored, then a retirement marker
   * replaces the record (what seed holds an older file's entry to). A step that fails throws, and the issuer does not
   * start: the next start repeats every step, the event under the same id.
   *
   * A record seeded from a file of a higher `config_revision` than this replica's is left alone (`deps.onNewer` is told):
   * that file added the client, and this one is older (a replica restarted mid-rollout), not the operator's removal.
   * The revision is read from the bucket, not from the watched copy, right before the first step. Returns the ids
   * retired.
   */
  async retire(declared: readonly ClientConfig[], deps: RetireDeps): Promise<string[]> {
    const kept = new Set(declared.map((c) => c.client_id));
    const retired: string[] = [];
    for (const record of this.cache.values()) {
      if (record.seed_digest === undefined || kept.has(record.client_id)) continue;
      const outcome = await this.#retireOne(record.client_id, deps);
      if (outcome === "retired") retired.push(record.client_id);
      else if (outcome !== "left") deps.onNewer?.(outcome);
    }
    return retired;
  }

  /** Retires one client the file no longer declares: see retire. */
  async #retireOne(clientId: string, deps: RetireDeps): Promise<"retired" | "left" | NewerEntry> {
    const entry = await readEntry(this.kv, clientId);
    if (!entry || !("record" in entry) || entry.record.seed_digest === undefined) return "left";
    const newer = this.#newer(clientId, entry.record);
    if (newer) return newer;
    await deps.revokeSubject(clientId);
    const id = recordEventId(EVENT_TYPES.CLIENT_DELETED, [clientId, CONFIG_FILE, entry.revision, entry.record.updated_at]);
    await deps.events.publish(EVENT_TYPES.CLIENT_DELETED, { client_id: clientId, by: CONFIG_FILE }, { subject: clientId, id });
    const { seed_digest, secret_hash } = entry.record;
    const retirement: Retirement = {
      client_id: clientId,
      seed_digest,
      ...(secret_hash !== undefined && { secret_hash }),
      retired_at: this.now(),
      ...(this.configRevision > 0 && { seed_revision: this.configRevision }),
    };
    try {
      await this.kv.update(encodeKey(clientId), JSON.stringify({ retired: retirement }), entry.revision);
    } catch (err) {
      // Another replica starting at the same moment retired it, or one still declaring it wrote it again: its call.
      if (!isWriteConflict(err)) throw err;
      const after = await readEntry(this.kv, clientId);
      return (after && "record" in after && this.#newer(clientId, after.record)) || "left";
    }
    return "retired";
  }

  /** The client's entry when a file of a higher revision than this replica's seeded its record. */
  #newer(clientId: string, record: ClientRecord): NewerEntry | undefined {
    const theirs = seededRevision(record);
    return theirs > this.configRevision ? { client_id: clientId, seed_revision: theirs } : undefined;
  }

  /** What the bucket itself holds under a client's id (a record, a retirement marker, or neither), at which revision. */
  async #read(clientId: string): Promise<Stored | undefined> {
    const entry = await this.kv.get(encodeKey(clientId));
    if (!entry) return undefined;
    // A deletion's mark, a tombstone of client management, or a value this release cannot read, is neither: seeding
    // writes over it (at its revision).
    if (entry.operation !== "PUT") return { revision: entry.revision, value: undefined };
    let raw: unknown;
    try {
      raw = entry.json();
    } catch {
      return { revision: entry.revision, value: undefined };
    }
    const retired = retirementIn(raw);
    return { revision: entry.revision, value: retired ? { retired } : parseClientRecord(raw) };
  }
}
