/** Tests only: a signing-key ring on a NATS KV bucket of its own, read through its watch-fed cache, as main.ts wires it. */
import { SigningKeyRing, parseStoredKey } from "@sts/keys";
import type { KeyStore, SigningKeyRingOptions, StoredKey } from "@sts/keys";
import { KvCache, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { kvKeyStore } from "./key-store.js";

/** The ring's settings the tests vary; the store is made here; by default ES256 with 65 s of pre-publication. */
export type FixtureRingOptions = Pick<
  SigningKeyRingOptions,
  "policy" | "now" | "revokedKid" | "jwkFile" | "masterKey" | "prepublishSeconds" | "successorLockSeconds"
> & {
  algorithm?: SigningKeyRingOptions["algorithm"];
  /** How long the store waits for its cache to show a change (ms; kvKeyStore's default otherwise). */
  storeWaitMs?: number;
  /** Puts something between the ring and its store (a pause, a fault), as a test needs. */
  wrapStore?: (store: KeyStore) => KeyStore;
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
  const { storeWaitMs, wrapStore = (store) => store, ...ringOptions } = options;
  const store = wrapStore(kvKeyStore(kv, cache, storeWaitMs));
  const ring = new SigningKeyRing({ store, algorithm: "ES256", prepublishSeconds: 65, ...ringOptions });
  await ring.init();
  return { ring, cache };
}
