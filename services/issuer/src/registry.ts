/**
 * The client registry: records in NATS KV, read through a watch-fed cache so
 * every replica sees a change at once. Config-declared clients are seeded at
 * start; a record is rewritten only when its config entry changed.
 */
import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import type { ClientConfig } from "@sts/config";
import { parseClientRecord } from "@sts/client-auth";
import type { ClientRecord } from "@sts/client-auth";
import { encodeKey } from "@sts/nats";
import { toClientRecord } from "./client-records.js";
import type { KvCache } from "@sts/nats";

/** Lookup and seeding of client records. */
export class ClientRegistry {
  constructor(
    private readonly kv: KV,
    private readonly cache: KvCache<ClientRecord>,
    private readonly now: () => number,
  ) {}

  /** The record of a client, or undefined. */
  lookup(clientId: string): ClientRecord | undefined {
    return this.cache.get(encodeKey(clientId));
  }

  /** Writes config-declared clients whose entry changed since the last seed. */
  async seed(clients: readonly ClientConfig[]): Promise<number> {
    let written = 0;
    for (const c of clients) {
      const digest = createHash("sha256").update(JSON.stringify(c)).digest("base64url");
      const existing = this.lookup(c.client_id) ?? (await this.#read(c.client_id));
      if (existing?.seed_digest === digest) continue;
      const record: ClientRecord = { ...(await toClientRecord(c, { ...(existing && { previous: existing }), now: this.now() })), seed_digest: digest };
      await this.kv.put(encodeKey(c.client_id), JSON.stringify(record));
      written++;
    }
    return written;
  }

  async #read(clientId: string): Promise<ClientRecord | undefined> {
    const entry = await this.kv.get(encodeKey(clientId));
    if (!entry || entry.operation !== "PUT") return undefined;
    return parseClientRecord(entry.json());
  }
}
