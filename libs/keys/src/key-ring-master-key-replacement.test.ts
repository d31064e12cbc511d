/**
 * Replacing the master key itself: a replica given the new master key and the old one as a previous key opens the
 * ring's keys and seals them again under the new one, so that the old master key can then be dropped without losing
 * a key (before, a replica on a new master key was refused at start, and the only way out was deleting every key).
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SigningKeyRing } from "./key-ring.js";
import type { KeyStore } from "./key-ring.js";
import { isWithdrawn } from "./key-record.js";
import { memoryKeyStore } from "./memory-key-store.js";
import { openPrivateJwk, parseMasterKey } from "./master-key.js";

const policy = { rotateAfter: 3600, maxTokenLifetime: 300, clockTolerance: 60 };
const PREPUBLISH = 125;

/** A ring on `store` with the master key `text` (and previous ones), at `clock`; not started. */
function ringWith(store: KeyStore, clock: { t: number }, text: string, previous: string[] = []): SigningKeyRing {
  return new SigningKeyRing({
    store,
    algorithm: "ES256",
    policy,
    masterKey: parseMasterKey(text),
    ...(previous.length > 0 && { previousMasterKeys: previous.map(parseMasterKey) }),
    prepublishSeconds: PREPUBLISH,
    now: () => clock.t,
  });
}

/** What `init` threw, or undefined. */
const initError = (ring: SigningKeyRing): Promise<unknown> =>
  ring.init().then(
    () => undefined,
    (err: unknown) => err,
  );

/** The kids of the live keys in `store` whose sealed part `text` opens. */
function openedBy(store: KeyStore, text: string): string[] {
  const key = parseMasterKey(text);
  return store
    .list()
    .filter((k) => !isWithdrawn(k) && k.sealed)
    .flatMap((k) => {
      try {
        openPrivateJwk(k.sealed!, k.kid, key);
        return [k.kid];
      } catch {
        return [];
      }
    })
    .sort();
}

const liveKids = (store: KeyStore): string[] =>
  store
    .list()
    .filter((k) => !isWithdrawn(k))
    .map((k) => k.kid)
    .sort();

/** An empty keys bucket, a clock, and two master keys: the one being replaced and its replacement. */
const setting = (): { store: KeyStore; clock: { t: number }; oldKey: string; newKey: string } => ({
  store: memoryKeyStore(),
  clock: { t: 1_000_000 },
  oldKey: randomBytes(32).toString("base64url"),
  newKey: randomBytes(32).toString("base64url"),
});

describe("replacing the master key (previousMasterKeys)", () => {
  it("starts on the new master key with the old one as previous, and seals every key again under the new one", async () => {
    const { store, clock, oldKey, newKey } = setting();
    const first = ringWith(store, clock, oldKey);
    await first.init();
    clock.t += policy.rotateAfter;
    // A successor waiting to activate besides the signing key: both sealed under the old master key.
    const next = await first.maintain();
    expect(next).toBeDefined();
    expect(openedBy(store, oldKey)).toEqual(liveKids(store));
    expect(liveKids(store)).toHaveLength(2);

    const rolled = ringWith(store, clock, newKey, [oldKey]);
    expect(await initError(rolled)).toBeUndefined();
    expect(rolled.signingKey().kid).toBe(first.signingKey().kid);
    expect(openedBy(store, newKey)).toEqual(liveKids(store));
    expect(openedBy(store, oldKey)).toEqual([]);

    // The old master key can go: a replica on the new one alone starts and signs with every key, the next one included.
    const after = ringWith(store, clock, newKey);
    expect(await initError(after)).toBeUndefined();
    expect(after.signingKey().kid).toBe(first.signingKey().kid);
    clock.t += PREPUBLISH + 1;
    await after.maintain();
    expect(after.signingKey().kid).toBe(next?.kid);
  });

  it("seals again at its next maintain() a key that a replica still on the old master key made meanwhile", async () => {
    const { store, clock, oldKey, newKey } = setting();
    const stillOld = ringWith(store, clock, oldKey);
    await stillOld.init();
    const rolled = ringWith(store, clock, newKey, [oldKey]);
    await rolled.init();
    clock.t += policy.rotateAfter;
    const made = await stillOld.maintain();
    expect(made).toBeDefined();
    expect(openedBy(store, newKey)).not.toContain(made?.kid);

    await rolled.maintain();
    expect(openedBy(store, newKey)).toEqual(liveKids(store));
    clock.t += PREPUBLISH + 1;
    expect(rolled.signingKey().kid).toBe(made?.kid);
  });

  it("still refuses at start a replica that neither its master key nor a previous one opens the keys with", async () => {
    const store = memoryKeyStore();
    const clock = { t: 1_000_000 };
    const ringKey = randomBytes(32).toString("base64url");
    await ringWith(store, clock, ringKey).init();
    const before = store.list();
    const err = await initError(ringWith(store, clock, randomBytes(32).toString("hex"), [randomBytes(32).toString("hex")]));
    expect(err).toBeInstanceOf(TypeError);
    expect(String(err)).toContain("does not open signing key");
    expect(store.list()).toEqual(before);
  });
});
