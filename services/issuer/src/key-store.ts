/** The signing ring's storage on NATS KV, read through the watch-fed cache. */
import type { KV } from "@nats-io/kv";
import type { KeyStore, StoredKey } from "@sts/keys";
import type { KvCache } from "@sts/nats";

/** Adapts a KV bucket and its cache to the key ring's KeyStore. */
export function kvKeyStore(kv: KV, cache: KvCache<StoredKey>): KeyStore {
  return {
    list: () => [...cache.values()],
    async create(name, value) {
      try {
        await kv.create(name, JSON.stringify(value));
        return true;
      } catch (err) {
        // The server refuses create on an existing key ("wrong last sequence"): another replica won.
        if (err instanceof Error && /wrong last sequence|exists/i.test(err.message)) return false;
        throw err;
      }
    },
    async put(name, value) {
      await kv.put(name, JSON.stringify(value));
    },
    async delete(name) {
      await kv.delete(name);
    },
    async waitFor(kid) {
      const deadline = Date.now() + 5_000;
      while (![...cache.values()].some((k) => k.kid === kid) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}
