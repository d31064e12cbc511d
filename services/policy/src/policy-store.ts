/**
 * Policies in NATS KV (one key per policy id, encoded), versioned by the KV
 * revision. Every replica watches the bucket and rebuilds its engine on any
 * change, so a Put through one replica takes effect everywhere without a
 * restart. Each version written through the API names its author; a Delete
 * writes a tombstone naming its author instead of removing the key, so the
 * bucket itself says who made every change, deletions included, and every
 * replica announces the same author for it.
 *
 * A version is the config file's (config-managed) when its `source` is
 * "config": seeding at start rewrites it whenever the file's hop changed
 * (its `seed_digest` differs), and retires it with a config tombstone once the
 * file no longer declares it. Any other version is an operator's, and seeding
 * leaves it alone; a tombstone, the file's or an operator's, stays too. Reset
 * is the way back.
 */
import { createHash } from "node:crypto";
import type { KV, KvEntry } from "@nats-io/kv";
import { OAuthError, invalidRequest } from "@sts/errors";
import { CREDENTIALS } from "@sts/mesh";
import type { CallerIdentity } from "@sts/mesh";
import { encodeKey, isWriteConflict } from "@sts/nats";
import type { CompiledPolicy } from "./hops.js";

/** A stored policy version, or the tombstone of a deleted policy. */
export interface StoredPolicy {
  id: string;
  text: string;
  description: string;
  /** "config" for policies seeded from hops, "api" once written through Put or Delete. */
  source: "config" | "api";
  /** For config policies: digest of the text seeded, so edits through Put are never overwritten. */
  seed_digest?: string;
  /** For config versions and the file's tombstones: `config_revision` of the file that wrote it (absent: 0). */
  seed_revision?: number;
  updated_at: number;
  /** The operator who wrote this version through Put or Delete (never its credential). */
  author?: CallerIdentity;
  /** A tombstone: the policy was deleted (by `author`; with source "config", dropped from the config file) and is in force nowhere. */
  deleted?: true;
  /** "reset": `author` handed this config version back to the config file through Reset. */
  change?: "reset";
  /** A record under a policy's key that is not a policy this release can read (see {@link parseWatchedPolicy}). */
  unreadable?: true;
}

const CREDENTIAL_KINDS: ReadonlySet<unknown> = new Set(Object.values(CREDENTIALS));

/** The author of a stored version, when it has a well-formed one. */
function parseAuthor(raw: unknown): CallerIdentity | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const { credential, sub, client_id, jti } = raw as Record<string, unknown>;
  if (!CREDENTIAL_KINDS.has(credential) || typeof sub !== "string" || typeof client_id !== "string" || typeof jti !== "string") return undefined;
  return { credential: credential as CallerIdentity["credential"], sub, client_id, jti };
}

/**
 * Whether a record sits under its own id's key, the only one the service writes it to. One under another key was
 * written around the service (straight into the bucket): a second record with the same id would make two policies
 * of one id, which no engine can be built from, and a lookup by id would never find it.
 */
export function storedUnder(key: string, policy: { id: string }): boolean {
  return key === encodeKey(policy.id);
}

/** Parses a stored policy; given the KV key it was read from, refuses a record stored under another id's key. */
export function parseStoredPolicy(raw: unknown, key?: string): StoredPolicy | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.id !== "string" || typeof r.text !== "string") return undefined;
  if (key !== undefined && !storedUnder(key, { id: r.id })) return undefined;
  const { author, deleted, change, ...rest } = r;
  const parsed = { description: "", source: "api", updated_at: 0, ...rest } as StoredPolicy;
  const by = parseAuthor(author);
  if (by) parsed.author = by;
  if (deleted === true) parsed.deleted = true;
  if (change === "reset") parsed.change = "reset";
  return parsed;
}

/** Whether a stored version is a policy in force (not the tombstone of a deleted one, nor a record that is none). */
export function inForce(p: StoredPolicy): boolean {
  return p.deleted !== true && p.unreadable !== true;
}

/**
 * Parses a version for a replica's watched copy. A record that is no stored policy (written around the service, or
 * by a newer release in a shape this one does not know) is kept as an unreadable marker rather than left out: left
 * out, a first version that was a forbid would simply be missing from the set in force, and a later one would leave
 * the version before it in force unseen. The marker names no policy id, so the set in force is kept (live-policies.ts).
 */
export function parseWatchedPolicy(raw: unknown): StoredPolicy {
  return parseStoredPolicy(raw) ?? unreadablePolicy();
}

/** The marker of a record a watched copy cannot read, JSON or not (KvCache's `unreadable`): see parseWatchedPolicy. */
export function unreadablePolicy(): StoredPolicy {
  return { id: "", text: "", description: "", source: "api", updated_at: 0, unreadable: true };
}

/** The digest of a config version's text, kept in `seed_digest`: the next start rewrites the version when the file's differs. */
export function seedDigest(text: string): string {
  return createHash("sha256").update(text).digest("base64url");
}

/**
 * The config-managed version of a policy the config file declares, as seeding and Reset store it, stamped with the
 * file's `config_revision` (left out at 0, so files without one write what they wrote before).
 */
export function configVersion(declared: CompiledPolicy, updatedAt: number, configRevision = 0): StoredPolicy {
  return {
    ...declared,
    source: "config",
    seed_digest: seedDigest(declared.text),
    updated_at: updatedAt,
    ...(configRevision > 0 && { seed_revision: configRevision }),
  };
}

/** The config revision the file that wrote a config version or tombstone had: 0 for an operator's, or one written before revisions. */
export function seededRevision(p: StoredPolicy | undefined): number {
  const revision: unknown = p?.source === "config" ? p.seed_revision : undefined;
  return typeof revision === "number" && Number.isSafeInteger(revision) && revision > 0 ? revision : 0;
}

/**
 * Whether Reset has anything to write: not when the stored version is already `declared`'s config version, in force
 * and config-managed (with the digest the next start compares), whoever wrote it.
 */
export function resetNeeded(current: StoredPolicy | undefined, declared: CompiledPolicy): boolean {
  if (!current || !inForce(current) || current.source !== "config") return true;
  return current.text !== declared.text || current.description !== declared.description || current.seed_digest !== seedDigest(declared.text);
}

/** Largest policy text accepted. */
export const MAX_POLICY_BYTES = 64 * 1024;
/**
 * Largest stored version (the JSON record) the policies bucket takes. A text of MAX_POLICY_BYTES grows in JSON (`"`,
 * `\` and line ends take two bytes), and beside it sit its description (a hop's lists the hop's scopes, the exchange
 * policy's twice; a Put's is bounded by the request size), id and author: the bucket's 64 KiB default refused, at
 * seeding (the service then never started) or at Put (answered temporarily_unavailable, which no retry cures), texts
 * the size check accepts. Well under nats-server's default max_payload of 1 MiB.
 */
export const MAX_STORED_POLICY_BYTES = 512 * 1024;
const ID = /^[A-Za-z0-9._:/@-]{1,200}$/;

/** Refuses ids that are empty, huge, or hold characters we do not want in logs and keys. */
export function checkPolicyId(id: string): void {
  if (!ID.test(id)) throw invalidRequest("policy id must be 1-200 characters of A-Z a-z 0-9 . _ : / @ -");
}

/** A write that must find the key holding nothing. */
const ABSENT = Symbol("absent");

/** How often Reset or seeding decides again when other writes keep landing between its read and its write. */
const WRITE_ATTEMPTS = 3;

/** A version stored under a policy id's key, as a replica's watched copy holds it (KvCache.entry). */
export interface KnownVersion {
  value: StoredPolicy;
  revision: number;
}

/** Put's answer to a write over a revision that is no longer the stored one. */
function stale(expectedRevision: bigint): OAuthError {
  return new OAuthError("invalid_request", `the policy changed since revision ${expectedRevision}; Get it again`);
}

/** Writes and reads policies. */
export class PolicyStore {
  constructor(
    private readonly kv: KV,
    private readonly now: () => number,
    /** The config file's `config_revision`: what seeding, retiring and Reset stamp, and yield to a higher one. */
    private readonly configRevision = 0,
  ) {}

  /** Creates or replaces a policy in the name of its author; with expectedRevision, only if unchanged since. */
  async put(policy: { id: string; text: string; description: string }, author: CallerIdentity, expectedRevision?: bigint): Promise<bigint> {
    return this.#write({ ...policy, source: "api", updated_at: this.now(), author }, expectedRevision);
  }

  /** Deletes a policy in the name of its author, only if unchanged since `revision`: a tombstone takes its place. */
  async delete(id: string, author: CallerIdentity, revision: bigint): Promise<bigint> {
    return this.#write({ id, text: "", description: "", source: "api", updated_at: this.now(), author, deleted: true }, revision);
  }

  /**
   * Hands a policy back to the config file in the name of its author: stores `declared`, the config file's version,
   * as config-managed, so the next start rewrites it when the file's hop changed. With expectedRevision, only if the
   * stored revision is still that one. Writes nothing when the stored version already is `declared`'s (changed false,
   * with the stored revision).
   */
  async reset(declared: CompiledPolicy, author: CallerIdentity, expectedRevision?: bigint): Promise<{ revision: bigint; changed: boolean }> {
    for (let attempt = 1; ; attempt++) {
      const { current, revision } = await this.#latest(declared.id);
      // Checked here too, for the answer that writes nothing; the write checks it again atomically (kv.update).
      if (expectedRevision && expectedRevision !== revision) throw stale(expectedRevision);
      if (!resetNeeded(current, declared)) return { revision, changed: false };
      const record: StoredPolicy = { ...configVersion(declared, this.now(), this.configRevision), author, change: "reset" };
      // Over the version just read, always: an operator's Put landing in between is never overwritten unseen. The
      // decision is then made again on what it stored, unless the caller named the revision it meant.
      // Revision 0: nothing is stored, and the write must find it so (a create), not overwrite a Put made meanwhile.
      const written = await this.#writeOver(record, expectedRevision ?? (revision === 0n ? ABSENT : revision));
      if (written !== undefined) return { revision: written, changed: true };
      if (expectedRevision) throw stale(expectedRevision);
      if (attempt === WRITE_ATTEMPTS) throw new OAuthError("temporarily_unavailable", "the policy kept changing while it was reset; retry");
    }
  }

  /**
   * The latest version stored under an id, read from the bucket rather than a replica's watched copy, which may lag:
   * Reset must not answer "nothing to write" over an operator's newer Put. Revision 0 when the key holds nothing.
   */
  async #latest(id: string): Promise<{ current: StoredPolicy | undefined; revision: bigint }> {
    let entry: KvEntry | null;
    try {
      entry = await this.kv.get(encodeKey(id));
    } catch (err) {
      throw new OAuthError("temporarily_unavailable", "policy store unavailable", { cause: err });
    }
    if (!entry) return { current: undefined, revision: 0n };
    let current: StoredPolicy | undefined;
    try {
      // A key removed outside the service (DEL, PURGE), a value that does not parse, or another id's record written
      // under this id's key holds no policy: Reset rewrites it.
      current = entry.operation === "PUT" ? parseStoredPolicy(entry.json(), entry.key) : undefined;
    } catch {
      current = undefined;
    }
    return { current, revision: BigInt(entry.revision) };
  }

  async #write(record: StoredPolicy, expectedRevision?: bigint): Promise<bigint> {
    const written = await this.#writeOver(record, expectedRevision ?? 0n);
    if (written === undefined) throw stale(expectedRevision ?? 0n);
    return written;
  }

  /**
   * Writes `record` if the stored revision is still `revision` (0: whatever is stored; ABSENT: only if nothing is);
   * undefined when another write came first.
   */
  async #writeOver(record: StoredPolicy, revision: bigint | typeof ABSENT): Promise<bigint | undefined> {
    const key = encodeKey(record.id);
    const value = JSON.stringify(record);
    try {
      if (revision === ABSENT) return BigInt(await this.kv.create(key, value));
      return BigInt(revision ? await this.kv.update(key, value, Number(revision)) : await this.kv.put(key, value));
    } catch (err) {
      if (revision !== 0n && isWriteConflict(err)) return undefined;
      throw new OAuthError("temporarily_unavailable", "policy store unavailable", { cause: err });
    }
  }

  /**
   * Seeds config-derived policies: new ones are created, config ones updated when the config changed, and an
   * operator's change through the API kept, a deletion included (its tombstone stays): the operator's word is the
   * last one until the policy is Put again or handed back to the config file (Reset). `known` is what a replica's
   * watched copy holds under a policy id's key, decided on first. Returns how many were written and the ids kept
   * deleted.
   */
  async seed(
    policies: ReadonlyArray<{ id: string; text: string; description: string }>,
    known: (id: string) => KnownVersion | undefined,
  ): Promise<{ written: number; keptDeleted: string[]; keptNewer: string[] }> {
    let written = 0;
    const keptDeleted: string[] = [];
    const keptNewer: string[] = [];
    for (const p of policies) {
      const outcome = await this.#seedOne(p, known(p.id));
      if (outcome === "written") written++;
      if (outcome === "kept deleted") keptDeleted.push(p.id);
      if (outcome === "kept newer") keptNewer.push(p.id);
    }
    return { written, keptDeleted, keptNewer };
  }

  /** Seeds one declared policy, first deciding on what the watched copy knew of it. */
  async #seedOne(declared: CompiledPolicy, known: KnownVersion | undefined): Promise<"written" | "kept" | "kept deleted" | "kept newer"> {
    // Another id's record under this id's key holds no policy of this id: rewritten, as the store's own read says.
    let seen = { current: known && storedUnder(encodeKey(declared.id), known.value) ? known.value : undefined, revision: BigInt(known?.revision ?? 0) };
    for (let attempt = 1; ; attempt++) {
      const { current, revision } = seen;
      // A deletion stays, an operator's or the file's own (retireUndeclared): a replica started on an older file, which
      // still declares a hop the newer one dropped, must not put it back in force on every replica. Reset hands it back.
      if (current && !inForce(current)) return "kept deleted";
      const record = configVersion(declared, this.now(), this.configRevision);
      if (current && (current.source === "api" || current.seed_digest === record.seed_digest)) return "kept";
      // Written from a file of a higher config_revision: this replica's file is the older one (a rolling deploy, one pod
      // restarted mid-rollout), and must not write back what the newer file changed.
      if (seededRevision(current) > this.configRevision) return "kept newer";
      // The copy may lag: an operator's Put or Delete through another replica since it was read must not be
      // overwritten unseen (their answer was OK, their policy.updated stored). So the write is over exactly the
      // version decided on, and on a conflict the decision is made again on what the bucket holds now.
      if ((await this.#writeOver(record, revision === 0n ? ABSENT : revision)) !== undefined) return "written";
      if (attempt === WRITE_ATTEMPTS)
        throw new OAuthError("temporarily_unavailable", `the policy ${declared.id} kept changing while it was seeded; start again`);
      seen = await this.#latest(declared.id);
    }
  }

  /**
   * Retires the config-managed policies the config file no longer declares (a hop taken out of the file, or the scopes
   * policy of a hop whose scopes were emptied): each is replaced by a tombstone that names no operator. Left in force, a permit the file dropped would
   * go on allowing what the operator took out of the file. An operator's version (Put, Delete) is never touched: the
   * file does not manage it. A retired hop stays retired though a file declares it again (Reset hands it back). `stored` is what a replica's watched copy holds, by KV key; each write is over the
   * revision decided on, deciding again on a conflict. Returns the ids retired.
   */
  async retireUndeclared(declared: ReadonlySet<string>, stored: ReadonlyArray<[string, KnownVersion]>): Promise<{ retired: string[]; keptNewer: string[] }> {
    const retired: string[] = [];
    const keptNewer: string[] = [];
    for (const [key, known] of stored) {
      const { value } = known;
      if (!storedUnder(key, value) || declared.has(value.id)) continue;
      const outcome = await this.#retireOne(value.id, { current: value, revision: BigInt(known.revision) });
      if (outcome === "retired") retired.push(value.id);
      if (outcome === "newer") keptNewer.push(value.id);
    }
    return { retired, keptNewer };
  }

  /**
   * Retires one undeclared policy if it still is config-managed and in force, and was not written from a file of a
   * higher config_revision (one this older file never declared: a hop a newer file added stays in force).
   */
  async #retireOne(id: string, seen: { current: StoredPolicy | undefined; revision: bigint }): Promise<"retired" | "left" | "newer"> {
    for (let attempt = 1; ; attempt++) {
      const { current, revision } = seen;
      if (!current || !inForce(current) || current.source !== "config" || revision === 0n) return "left";
      if (seededRevision(current) > this.configRevision) return "newer";
      const tombstone: StoredPolicy = {
        id,
        text: "",
        description: "",
        source: "config",
        updated_at: this.now(),
        deleted: true,
        ...(this.configRevision > 0 && { seed_revision: this.configRevision }),
      };
      if ((await this.#writeOver(tombstone, revision)) !== undefined) return "retired";
      if (attempt === WRITE_ATTEMPTS) throw new OAuthError("temporarily_unavailable", `the policy ${id} kept changing while it was retired; start again`);
      seen = await this.#latest(id);
    }
  }
}
