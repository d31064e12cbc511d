/** Tests only: a signing-key ring on a NATS KV bucket of its own, read through its watch-fed cache, as main.ts wires it. */
import { SigningKeyRing, parseStoredKey } from "@sts/keys";
import type { SigningKeyRingOptions, StoredKey } from "@sts/keys";
import { KvCache, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { kvKeyStore } from "./key-store.js";

/** The ring's settings the tests vary; the store is made here, the rest is ES256 with 65 s of pre-publication. */
export type FixtureRingOptions = Pick<SigningKeyRingOptions, "policy" | "now" | "revokedKid" | "jwkFile" | "masterKey"> & {
  /** How long the store waits for its cache to show a change (ms; kvKeyStore's default otherwise). */
  storeWaitMs?: number;
};

/** Opens `bucket`, waits for its cache, and starts a ring on it; the cache also goes into `caches` for the caller to stop. */
export async function ringOnBucket(
  nats: NatsHandle,
  bucket: string,
  caches: Array<{ stop(): void }>,
  options: FixtureRingOptions,
): Promise<{ ring: SigningKeyRing; cache: KvCache<StoredKey> }> {
  const kv = await openBucket(nats, bucket);
  const cache = new KvCache<StoredKey>(kv, { parse: parseStoredKey, invalid: "forget", key: "key.>" });
  caches.push(cache);
  await cache.ready();
  const { storeWaitMs, ...ringOptions } = options;
  const ring = new SigningKeyRing({ store: kvKeyStore(kv, cache, storeWaitMs), algorithm: "ES256", prepublishSeconds: 65, ...ringOptions });
  await ring.init();
  return { ring, cache };
}
