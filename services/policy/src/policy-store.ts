/**
 * Policies in NATS KV (one key per policy id, encoded), versioned by the KV
 * revision. Every replica watches the bucket and rebuilds its engine on any
 * change, so a Put through one replica takes effect everywhere without a
 * restart. Each version written through the API names its author; a Delete
 * writes a tombstone naming its author instead of removing the key, so the
 * bucket itself says who made every change, deletions included, and every
 * replica announces the same author for it.
 */
import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { OAuthError, invalidRequest } from "@sts/errors";
import { CREDENTIALS } from "@sts/mesh";
import type { CallerIdentity } from "@sts/mesh";
import { encodeKey } from "@sts/nats";

/** A stored policy version, or the tombstone of a deleted policy. */
export interface StoredPolicy {
  id: string;
  text: string;
  description: string;
  /** "config" for policies seeded from hops, "api" once written through Put or Delete. */
  source: "config" | "api";
  /** For config policies: digest of the text seeded, so edits through Put are never overwritten. */
  seed_digest?: string;
  updated_at: number;
  /** The operator who wrote this version through Put or Delete (never its credential). */
  author?: CallerIdentity;
  /** A tombstone: the policy was deleted (by `author`) and is in force nowhere. */
  deleted?: true;
}

const CREDENTIAL_KINDS: ReadonlySet<unknown> = new Set(Object.values(CREDENTIALS));

/** The author of a stored version, when it has a well-formed one. */
function parseAuthor(raw: unknown): CallerIdentity | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const { credential, sub, client_id, jti } = raw as Record<string, unknown>;
  if (!CREDENTIAL_KINDS.has(credential) || typeof sub !== "string" || typeof client_id !== "string" || typeof jti !== "string") return undefined;
  return { credential: credential as CallerIdentity["credential"], sub, client_id, jti };
}

/** Parses a stored policy. */
export function parseStoredPolicy(raw: unknown): StoredPolicy | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.id !== "string" || typeof r.text !== "string") return undefined;
  const { author, deleted, ...rest } = r;
  const parsed = { description: "", source: "api", updated_at: 0, ...rest } as StoredPolicy;
  const by = parseAuthor(author);
  if (by) parsed.author = by;
  if (deleted === true) parsed.deleted = true;
  return parsed;
}

/** Whether a stored version is a policy in force (not the tombstone of a deleted one). */
export function inForce(p: StoredPolicy): boolean {
  return p.deleted !== true;
}

/** Largest policy text accepted. */
export const MAX_POLICY_BYTES = 64 * 1024;
const ID = /^[A-Za-z0-9._:/@-]{1,200}$/;

/** Refuses ids that are empty, huge, or hold characters we do not want in logs and keys. */
export function checkPolicyId(id: string): void {
  if (!ID.test(id)) throw invalidRequest("policy id must be 1-200 characters of A-Z a-z 0-9 . _ : / @ -");
}

/** Writes and reads policies. */
export class PolicyStore {
  constructor(
    private readonly kv: KV,
    private readonly now: () => number,
  ) {}

  /** Creates or replaces a policy in the name of its author; with expectedRevision, only if unchanged since. */
  async put(policy: { id: string; text: string; description: string }, author: CallerIdentity, expectedRevision?: bigint): Promise<bigint> {
    return this.#write({ ...policy, source: "api", updated_at: this.now(), author }, expectedRevision);
  }

  /** Deletes a policy in the name of its author, only if unchanged since `revision`: a tombstone takes its place. */
  async delete(id: string, author: CallerIdentity, revision: bigint): Promise<bigint> {
    return this.#write({ id, text: "", description: "", source: "api", updated_at: this.now(), author, deleted: true }, revision);
  }

  async #write(record: StoredPolicy, expectedRevision?: bigint): Promise<bigint> {
    const key = encodeKey(record.id);
    try {
      const rev = expectedRevision
        ? await this.kv.update(key, JSON.stringify(record), Number(expectedRevision))
        : await this.kv.put(key, JSON.stringify(record));
      return BigInt(rev);
    } catch (err) {
      if (expectedRevision && err instanceof Error && /wrong last sequence/i.test(err.message)) {
        throw new OAuthError("invalid_request", `the policy changed since revision ${expectedRevision}; Get it again`);
      }
      throw new OAuthError("temporarily_unavailable", "policy store unavailable", { cause: err });
    }
  }

  /**
   * Seeds config-derived policies: new ones are created, config ones updated when the config changed, and an
   * operator's change through the API kept, a deletion included (its tombstone stays): the operator's word is the
   * last one until the policy is Put again. Returns how many were written and the ids kept deleted.
   */
  async seed(
    policies: ReadonlyArray<{ id: string; text: string; description: string }>,
    existing: (id: string) => StoredPolicy | undefined,
  ): Promise<{ written: number; keptDeleted: string[] }> {
    let written = 0;
    const keptDeleted: string[] = [];
    for (const p of policies) {
      const digest = createHash("sha256").update(p.text).digest("base64url");
      const current = existing(p.id);
      if (current && !inForce(current)) {
        keptDeleted.push(p.id);
        continue;
      }
      if (current && (current.source === "api" || current.seed_digest === digest)) continue;
      const record: StoredPolicy = { ...p, source: "config", seed_digest: digest, updated_at: this.now() };
      await this.kv.put(encodeKey(p.id), JSON.stringify(record));
      written++;
    }
    return { written, keptDeleted };
  }
}
