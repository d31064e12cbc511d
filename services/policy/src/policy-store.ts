/**
 * Policies in NATS KV (one key per policy id, encoded), versioned by the KV
 * revision. Every replica watches the bucket and rebuilds its engine on any
 * change, so a Put through one replica takes effect everywhere without a
 * restart.
 */
import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { OAuthError, invalidRequest } from "@sts/errors";
import { encodeKey } from "@sts/nats";

/** A stored policy. */
export interface StoredPolicy {
  id: string;
  text: string;
  description: string;
  /** "config" for policies seeded from hops, "api" once written through Put. */
  source: "config" | "api";
  /** For config policies: digest of the text seeded, so edits through Put are never overwritten. */
  seed_digest?: string;
  updated_at: number;
}

/** Parses a stored policy. */
export function parseStoredPolicy(raw: unknown): StoredPolicy | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.id !== "string" || typeof r.text !== "string") return undefined;
  return { description: "", source: "api", updated_at: 0, ...raw } as StoredPolicy;
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

  /** Creates or replaces a policy; with expectedRevision, only if unchanged since. */
  async put(policy: { id: string; text: string; description: string }, expectedRevision?: bigint): Promise<bigint> {
    const record: StoredPolicy = { ...policy, source: "api", updated_at: this.now() };
    const key = encodeKey(policy.id);
    try {
      const rev = expectedRevision
        ? await this.kv.update(key, JSON.stringify(record), Number(expectedRevision))
        : await this.kv.put(key, JSON.stringify(record));
      return BigInt(rev);
    } catch (err) {
      if (expectedRevision && err instanceof Error && /wrong last sequence/i.test(err.message)) {
        throw new OAuthError("invalid_request", "policy changed since expected_revision");
      }
      throw new OAuthError("temporarily_unavailable", "policy store unavailable", { cause: err });
    }
  }

  /** Removes a policy. */
  async delete(id: string): Promise<void> {
    await this.kv.delete(encodeKey(id));
  }

  /** Seeds config-derived policies: new ones are created, config ones updated when the config changed, API edits kept. */
  async seed(policies: ReadonlyArray<{ id: string; text: string; description: string }>, existing: (id: string) => StoredPolicy | undefined): Promise<number> {
    let written = 0;
    for (const p of policies) {
      const digest = createHash("sha256").update(p.text).digest("base64url");
      const current = existing(p.id);
      if (current && (current.source === "api" || current.seed_digest === digest)) continue;
      const record: StoredPolicy = { ...p, source: "config", seed_digest: digest, updated_at: this.now() };
      await this.kv.put(encodeKey(p.id), JSON.stringify(record));
      written++;
    }
    return written;
  }
}
