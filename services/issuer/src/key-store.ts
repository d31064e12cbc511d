/** The signing ring's storage on NATS KV, read through the watch-fed cache. */
import type { KV } from "@nats-io/kv";
import type { KeyStore, StoredKey } from "@sts/keys";
import { isWriteConflict } from "@sts/nats";
import type { KvCache } from "@sts/nats";

/** How long the ring waits, by default, for this replica's cache to show a write it made or saw in the store (ms). */
export const CACHE_WAIT_MS = 5_000;

/** Adapts a KV bucket and its cache to the key ring's KeyStore; `waitMs` bounds {@link KeyStore.waitFor}. */
export function kvKeyStore(kv: KV, cache: KvCache<StoredKey>, waitMs = CACHE_WAIT_MS): KeyStore {
  return {
    list: () => [...cache.values()],
    async create(name, value) {
      try {
        await kv.create(name, JSON.stringify(value));
        return true;
      } catch (err) {
        if (isWriteConflict(err)) return false;
        throw err;
      }
    },
    async get(name) {
      const entry = await kv.get(name);
      return entry?.operation === "PUT" ? { value: entry.json<unknown>(), revision: entry.revision } : undefined;
    },
    async update(name, value, revision) {
      try {
        await kv.update(name, JSON.stringify(value), revision);
        return true;
      } catch (err) {
        if (isWriteConflict(err)) return false;
        throw err;
      }
    },
    async names(prefix) {
      const names: string[] = [];
      for await (const name of await kv.keys(`${prefix}.>`)) names.push(name);
      return names;
    },
    async put(name, value) {
      await kv.put(name, JSON.stringify(value));
    },
    async delete(name) {
      await kv.delete(name);
    },
    async waitFor(kid, until = () => true) {
      const deadline = Date.now() + waitMs;
      const seen = (): boolean => [...cache.values()].some((k) => k.kid === kid && until(k));
      while (!seen()) {
        if (Date.now() >= deadline) return false;
        await new Promise((r) => setTimeout(r, 20));
      }
      return true;
    },
  };
}
