/**
 * The client registry: records in NATS KV, read through a watch-fed cache so
 * every replica sees a change at once. Config-declared clients are seeded at
 * start; a record is rewritten only when its config entry changed.
 */
import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import type { ClientConfig } from "@sts/config";
import { hashSecret, parseClientRecord } from "@sts/client-auth";
import type { ClientRecord } from "@sts/client-auth";
import { encodeKey } from "@sts/nats";
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
      const t = this.now();
      const secretHash = c.client_secret_hash ?? (c.client_secret ? await hashSecret(c.client_secret) : undefined);
      const record: ClientRecord = {
        client_id: c.client_id,
        ...(secretHash !== undefined && { secret_hash: secretHash }),
        token_endpoint_auth_method: c.token_endpoint_auth_method,
        grant_types: [...c.grant_types],
        scope: [...c.scope],
        audience: [...c.audience],
        access_token_format: { ...c.access_token_format },
        ...(c.access_token_ttl !== undefined && { access_token_ttl: c.access_token_ttl }),
        refresh_token_ttl: c.refresh_token_ttl,
        ...(c.jwks && { jwks: c.jwks }),
        ...(c.jwks_uri && { jwks_uri: c.jwks_uri }),
        internal: c.internal,
        admin: c.admin,
        ...(c.admin_client_id && { admin_client_id: c.admin_client_id }),
        scope_templates: { ...c.scope_templates },
        ...(c.client_name && { client_name: c.client_name }),
        seed_digest: digest,
        created_at: existing?.created_at ?? t,
        updated_at: t,
      };
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
