/**
 * The client registry: records in NATS KV, read through a watch-fed cache so
 * every replica sees a change at once. Config-declared clients are seeded at
 * start; a record is rewritten only when its config entry changed.
 */
import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import type { ClientConfig } from "@sts/config";
import { verifySecret } from "@sts/client-auth";
import type { ClientRecord } from "@sts/client-auth";
import { encodeKey } from "@sts/nats";
import { toClientRecord } from "./client-records.js";
import { readEntry } from "./client-store.js";
import type { KvCache } from "@sts/nats";

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
    return this.cache.get(encodeKey(clientId));
  }

  /**
   * Writes config-declared clients whose entry changed since the last seed. A secret in clear is never part of the
   * stored digest (next to the record, an unsalted hash of it would let whoever reads the bucket test guesses at
   * SHA-256 speed instead of scrypt's): it is checked against the stored scrypt hash instead.
   */
  async seed(clients: readonly ClientConfig[]): Promise<number> {
    let written = 0;
    for (const c of clients) {
      const { client_secret: secret, ...described } = c;
      const digest = createHash("sha256").update(JSON.stringify(described)).digest("base64url");
      const existing = this.lookup(c.client_id) ?? (await this.#read(c.client_id));
      const secretKept = secret === undefined || (existing?.secret_hash !== undefined && (await verifySecret(existing.secret_hash, secret)));
      if (existing?.seed_digest === digest && secretKept) continue;
      const record: ClientRecord = { ...(await toClientRecord(c, { ...(existing && { previous: existing }), now: this.now() })), seed_digest: digest };
      await this.kv.put(encodeKey(c.client_id), JSON.stringify(record));
      // Earlier revisions may hold a digest over the secret in clear (an earlier release's) or a replaced secret's hash.
      if (existing) await this.dropHistory(encodeKey(c.client_id));
      written++;
    }
    return written;
  }

  async #read(clientId: string): Promise<ClientRecord | undefined> {
    const entry = await readEntry(this.kv, clientId);
    return entry && "record" in entry ? entry.record : undefined;
  }
}
