/**
 * A ring key's seal binds its kid only (the additional data); its record's alg and public_jwk lie beside the sealed
 * part, readable and writable by whoever writes the keys bucket. The sealed JWK carries both as they were made, so a
 * record altered in either never signs: not with an alg its key was not made for, not under a public key that is not
 * its own.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { JWK } from "jose";
import { SigningKeyRing, keyName } from "./key-ring.js";
import type { KeyStore } from "./key-ring.js";
import type { StoredKey } from "./key-record.js";
import { memoryKeyStore } from "./memory-key-store.js";
import { parseMasterKey } from "./master-key.js";
import type { SigningAlg } from "./generate.js";

const policy = { rotateAfter: 3600, maxTokenLifetime: 300, clockTolerance: 60 };
const PREPUBLISH = 125;
const ALTERED = /signing key [-\w]+ of the keys bucket: its record's alg or public key is not that of the private key sealed for it/;

/** A ring for `algorithm` on `store` with the master key `master`, at `clock`; not started. */
function ringWith(store: KeyStore, algorithm: SigningAlg, master: string, clock: { t: number }): SigningKeyRing {
  return new SigningKeyRing({ store, algorithm, policy, masterKey: parseMasterKey(master), prepublishSeconds: PREPUBLISH, now: () => clock.t });
}

/** What `fn` threw, or undefined. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/**
 * A ring that made its next key by rotation, the key then altered in the store by `alter` before it activates; returns
 * the ring, the store and the clock, now past the key's activation.
 */
async function alteredSuccessor(
  algorithm: SigningAlg,
  alter: (record: StoredKey) => StoredKey,
): Promise<{ ring: SigningKeyRing; store: KeyStore; clock: { t: number }; master: string; kid: string }> {
  const store = memoryKeyStore();
  const clock = { t: 1_000_000 };
  const master = randomBytes(32).toString("base64url");
  const ring = ringWith(store, algorithm, master, clock);
  await ring.init();
  clock.t += policy.rotateAfter;
  const made = await ring.maintain();
  const record = store.list().find((k) => k.kid === made?.kid);
  expect(record?.sealed).toBeDefined();
  await store.put(keyName(record!.kid), alter(record!));
  clock.t += PREPUBLISH + 1;
  return { ring, store, clock, master, kid: record!.kid };
}

describe("a ring key whose record was altered beside its seal", () => {
  it("never signs when its alg was changed (RS256 to PS256, one RSA key for two algs), and a replica starting on it is refused", async () => {
    const { ring, store, clock, master } = await alteredSuccessor("RS256", (record) => ({ ...record, alg: "PS256" }));
    expect(String(thrown(() => ring.signingKey()))).toMatch(ALTERED);
    const err = await ringWith(store, "RS256", master, clock)
      .init()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(TypeError);
    expect(String(err)).toMatch(ALTERED);
    expect(String(err)).not.toContain(master);
  }, 30_000);

  it("never signs when its public_jwk is another key's (what it signed would not verify against the key published for it)", async () => {
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "jwk" }) as JWK;
    const { ring, kid } = await alteredSuccessor("ES256", (record) => ({ ...record, public_jwk: { ...other, kid: record.kid, alg: "ES256", use: "sig" } }));
    const err = thrown(() => ring.signingKey());
    expect(String(err)).toMatch(ALTERED);
    expect(String(err)).toContain(kid);
  });

  it("signs as before when nothing was altered", async () => {
    const { ring, kid } = await alteredSuccessor("EdDSA", (record) => record);
    expect(ring.signingKey().kid).toBe(kid);
  });
});
