/**
 * The key ring on a real NATS KV bucket: bootstrap, pre-published rotation, retirement, one successor per key across
 * replicas; an operator's rotation and withdrawal, which never leaves the ring without a signing key.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from "jose";
import { signJwt } from "@sts/jwt";
import { BUCKETS, connectNats, openBucket } from "@sts/nats";
import type { KvCache, NatsHandle } from "@sts/nats";
import { SUCCESSOR_LOCK_SECONDS, parseMasterKey } from "@sts/keys";
import type { KeyStore, Rotation, SigningAlg, SigningKeyRing, StoredKey } from "@sts/keys";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { ringOnBucket } from "./ring.fixture.js";
import type { FixtureRingOptions } from "./ring.fixture.js";

let server: NatsServerHandle;
let nats: NatsHandle;
const caches: Array<{ stop(): void }> = [];
const master = parseMasterKey(randomBytes(32).toString("base64url"));
const policy = { rotateAfter: 1000, maxTokenLifetime: 300, clockTolerance: 30 };

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "keys-test" });
}, 30_000);

afterAll(async () => {
  for (const c of caches) c.stop();
  await nats?.close();
  await server?.stop();
});

/** The names the keys bucket `bucket` holds in force (keys and locks). */
async function namesIn(bucket: string): Promise<string[]> {
  const kv = await openBucket(nats, bucket);
  const names: string[] = [];
  for await (const name of await kv.keys()) if ((await kv.get(name))?.operation === "PUT") names.push(name);
  return names.sort();
}

/** A ring at `clock` on `bucket` (60 s of pre-publication), as main.ts wires it; its cache is stopped after the tests. */
function ring(
  bucket: string,
  clock: { t: number },
  algorithm: SigningAlg = "ES256",
  extra: Pick<FixtureRingOptions, "successorLockSeconds" | "storeWaitMs" | "wrapStore"> = {},
): Promise<{ ring: SigningKeyRing; cache: KvCache<StoredKey> }> {
  return ringOnBucket(nats, bucket, caches, { algorithm, policy, masterKey: master, prepublishSeconds: 60, now: () => clock.t, ...extra });
}

describe("SigningKeyRing on NATS KV", () => {
  it("rotates with pre-publication and keeps old keys until their tokens expired", async () => {
    const clock = { t: 1_000_000 };
    const { ring: r, cache } = await ring(`${BUCKETS.keys}_rotation`, clock);
    const first = r.signingKey();
    const token = signJwt({ sub: "x" }, first, "JWT");
    // The stored key is sealed: no private member in clear.
    expect(JSON.stringify([...cache.values()])).not.toMatch(/"d":/);

    clock.t += 1000; // due
    const rotation = await r.maintain();
    expect(rotation).toMatchObject({ predecessor: first.kid, activate_at: clock.t + 60 });
    const next = rotation?.kid;
    expect(r.jwks().keys.map((k) => k.kid)).toEqual([first.kid, next]);
    expect(r.signingKey().kid).toBe(first.kid); // published, not yet signing

    clock.t += 60;
    expect(r.signingKey().kid).toBe(next);
    await expect(jwtVerify(token, createLocalJWKSet(r.jwks()))).resolves.toBeTruthy();

    clock.t += policy.maxTokenLifetime + policy.clockTolerance;
    await r.maintain();
    await waitFor(() => r.jwks().keys.length === 1);
    expect(r.jwks().keys.map((k) => k.kid)).toEqual([next]);
    // The retired key's successor lock went with it. The bootstrap's lock stays: it keeps two replicas starting on an
    // empty bucket from making two first keys.
    expect(await namesIn(`${BUCKETS.keys}_rotation`)).toEqual([`key.${next}`, "successor.genesis"]);
    cache.stop();
  });

  it("makes one successor when two replicas rotate at once", async () => {
    const clock = { t: 2_000_000 };
    const a = await ring(`${BUCKETS.keys}_race`, clock);
    const b = await ring(`${BUCKETS.keys}_race`, clock);
    clock.t += 1000;
    const made = await Promise.all([a.ring.maintain(), b.ring.maintain()]);
    expect(made.filter(Boolean)).toHaveLength(1);
    await waitFor(() => a.ring.jwks().keys.length === 2 && b.ring.jwks().keys.length === 2);
    expect(a.ring.jwks()).toEqual(b.ring.jwks());
    a.cache.stop();
    b.cache.stop();
  });

  it("takes over a successor lock whose holder died before writing the key, once it is stale", async () => {
    const clock = { t: 5_000_000 };
    const bucket = `${BUCKETS.keys}_stale_lock`;
    const a = await ring(bucket, clock);
    const b = await ring(bucket, clock);
    const first = a.ring.signingKey().kid;
    clock.t += 1000; // due
    // What a replica that took the lock and then failed (or was killed) before writing its key leaves behind.
    const kv = await openBucket(nats, bucket);
    await kv.create(`successor.${first}`, JSON.stringify({ kid: "never-written", at: clock.t }));
    expect(await a.ring.maintain()).toBeUndefined(); // a fresh lock is respected
    clock.t += SUCCESSOR_LOCK_SECONDS;
    // Both replicas find it stale at once: the compare-and-set lets one rotate.
    const made = (await Promise.all([a.ring.maintain(), b.ring.maintain()])).filter(Boolean);
    expect(made).toHaveLength(1);
    await waitFor(() => a.ring.jwks().keys.length === 2 && b.ring.jwks().keys.length === 2);
    expect(a.ring.jwks().keys.map((k) => k.kid)).toEqual([first, made[0]?.kid]);
    a.cache.stop();
    b.cache.stop();
  });

  it("does not take over an old lock whose successor was written: a second rotation answers with the waiting key", async () => {
    const clock = { t: 6_000_000 };
    const { ring: r, cache } = await ring(`${BUCKETS.keys}_done_lock`, clock, "ES256", { successorLockSeconds: 10 });
    const first = r.signingKey().kid;
    const next = await r.rotate();
    expect(next).toMatchObject({ predecessor: first, activate_at: clock.t + 60, created: true });
    clock.t += 30; // the lock is past its 10 s, the successor still pre-published (60 s): `first` still signs
    expect(r.signingKey().kid).toBe(first);
    // A second successor of the same key would fork the ring.
    expect(await r.rotate()).toEqual({ ...next, created: false });
    expect(r.jwks().keys.map((k) => k.kid)).toEqual([first, next.kid]);
    cache.stop();
  });

  it("withdraws the signing key: the waiting successor signs at once, the key is neither published nor kept, a repeat changes nothing", async () => {
    const clock = { t: 7_000_000 };
    const bucket = `${BUCKETS.keys}_withdraw_waiting`;
    const a = await ring(bucket, clock);
    const b = await ring(bucket, clock);
    const first = a.ring.signingKey().kid;
    const next = await a.ring.rotate();
    clock.t += 10; // `next` waits 50 s more
    const out = await a.ring.withdraw(first, "ops", "leaked");
    expect(out).toMatchObject({ found: true, successor: next.kid, changed: true });
    const record = out.found ? out.key : undefined;
    expect(record).toMatchObject({ kid: first, withdrawn_at: clock.t, withdrawn_by: "ops", reason: "leaked" });
    expect(record?.sealed).toBeUndefined();
    // Stored so: no private part left in the bucket.
    const stored = [...a.cache.values()].find((k) => k.kid === first);
    expect(stored?.sealed).toBeUndefined();
    expect(a.ring.signingKey().kid).toBe(next.kid);
    expect(a.ring.jwks().keys.map((k) => k.kid)).toEqual([next.kid]);
    // The other replica follows once its watch has it, and never signs with the withdrawn key again.
    await waitFor(() => b.ring.signingKey().kid === next.kid);
    expect(b.ring.jwks().keys.map((k) => k.kid)).toEqual([next.kid]);
    expect(a.ring.statuses().map((s) => [s.key.kid, s.state])).toEqual([
      [first, "withdrawn"],
      [next.kid, "signing"],
    ]);
    // Again, from either replica: the earlier record, nothing written.
    clock.t += 5;
    expect(await b.ring.withdraw(first, "someone-else", "again")).toEqual({ found: true, key: record, successor: next.kid, changed: false, shown: true });
    expect(await a.ring.withdraw("no-such-kid", "ops", "x")).toEqual({ found: false });
    a.cache.stop();
    b.cache.stop();
  });

  it("withdraws every key in turn and still signs: each signing key's replacement is made active at once", async () => {
    const clock = { t: 8_000_000 };
    const { ring: r, cache } = await ring(`${BUCKETS.keys}_withdraw_all`, clock);
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const signing = r.signingKey().kid;
      seen.add(signing);
      const out = await r.withdraw(signing, "ops", `round ${i}`);
      if (!out.found) throw new Error("the signing key was not found");
      expect(seen.has(out.successor)).toBe(false);
      expect(r.signingKey().kid).toBe(out.successor);
      expect(r.jwks().keys.map((k) => k.kid)).toEqual([out.successor]);
      clock.t += 1;
    }
    // An upcoming key withdrawn is no successor: the signing key stays, and a rotation makes another.
    const signing = r.signingKey().kid;
    const waiting = await r.rotate();
    expect(await r.withdraw(waiting.kid, "ops", "bad upcoming key")).toMatchObject({ found: true, successor: signing, changed: true });
    expect(r.signingKey().kid).toBe(signing);
    const again = await r.rotate();
    expect(again.created).toBe(true);
    expect(again.kid).not.toBe(waiting.kid);
    // Withdrawn records stay listed until everything they could have signed has expired, then maintenance drops them.
    expect(r.statuses().filter((s) => s.state === "withdrawn")).toHaveLength(4);
    clock.t += policy.maxTokenLifetime + policy.clockTolerance;
    await r.maintain();
    await waitFor(() => r.statuses().every((s) => s.state !== "withdrawn"));
    expect([...cache.values()].some((k) => k.withdrawn_at !== undefined)).toBe(false);
    cache.stop();
  });

  it("deletes the key it wrote when its successor lock was taken over meanwhile, and answers with the taker's key", async () => {
    const clock = { t: 8_300_000 };
    const bucket = `${BUCKETS.keys}_lock_taken`;
    // The other replica finds the lock's key unwritten and, with no staleness allowed, takes the lock over at once.
    const other = await ring(bucket, clock, "ES256", { successorLockSeconds: 0 });
    const genesis = other.ring.signingKey().kid;
    let taken: Promise<Rotation> | undefined;
    // This replica pauses between taking the lock and writing its key (a GC pause, a slow NATS); the other rotates then.
    const paused = (base: KeyStore): KeyStore => ({
      ...base,
      put: async (name, value) => {
        if (name.startsWith("key.") && !taken) await (taken = other.ring.rotate());
        return base.put(name, value);
      },
    });
    const { ring: r } = await ring(bucket, clock, "ES256", { wrapStore: paused });
    const rotation = await r.rotate();
    const theirs = await taken;
    expect(theirs?.kid).toBeDefined();
    expect(rotation).toMatchObject({ kid: theirs?.kid, predecessor: genesis, created: false });
    // One successor in the store: the key written under a lock no longer held is gone.
    expect(await namesIn(bucket)).toEqual([`key.${genesis}`, `key.${theirs?.kid}`, `successor.${genesis}`, "successor.genesis"].sort());
    other.cache.stop();
  });

  it("drops a retired key's locks, a pair lock naming it included, and writes no delete marker for a lock never taken", async () => {
    const clock = { t: 8_200_000 };
    const bucket = `${BUCKETS.keys}_retired_locks`;
    const { ring: r, cache } = await ring(bucket, clock);
    const first = r.signingKey().kid;
    const second = (await r.rotate()).kid; // under successor.<first>
    clock.t += 1;
    await r.withdraw(first, "ops", "leaked"); // second brought forward under replacement.<first>
    // What two replicas withdrawing first and second at once leave behind (see #standingSuccessor).
    const kv = await openBucket(nats, bucket);
    await kv.put(`replacement.${[first, second].sort().join(".")}`, JSON.stringify({ kid: "elsewhere", at: clock.t }));
    clock.t += 1;
    const third = (await r.withdraw(second, "ops", "leaked too")).found ? r.signingKey().kid : ""; // under replacement.<second>
    expect(await namesIn(bucket)).toEqual(
      [
        `key.${first}`,
        `key.${second}`,
        `key.${third}`,
        `replacement.${first}`,
        `replacement.${[first, second].sort().join(".")}`,
        `replacement.${second}`,
        `successor.${first}`,
        "successor.genesis",
      ].sort(),
    );
    clock.t += policy.maxTokenLifetime + policy.clockTolerance + 1;
    await r.maintain();
    expect(await namesIn(bucket)).toEqual([`key.${third}`, "successor.genesis"]);
    // No successor was ever made for the second key: nothing was written under its name.
    expect(await kv.get(`successor.${second}`)).toBeNull();
    cache.stop();
  });

  it("says a withdrawal is not shown while this replica's copy does not show it; a retry here waits for it, elsewhere finds it done", async () => {
    const clock = { t: 8_500_000 };
    const bucket = `${BUCKETS.keys}_withdraw_stalled`;
    const a = await ring(bucket, clock, "ES256", { storeWaitMs: 300 });
    const waiting = await a.ring.rotate();
    // Its watch stalls: this replica goes on publishing the key it just withdrew, and must not say that was all.
    a.cache.stop();
    expect(await a.ring.withdraw(waiting.kid, "ops", "leaked")).toMatchObject({ found: true, changed: true, shown: false });
    expect(a.ring.jwks().keys.map((k) => k.kid)).toContain(waiting.kid);
    // Retried here, it finds the withdrawal in the store, and answers only once its copy shows it.
    await expect(a.ring.withdraw(waiting.kid, "ops", "leaked")).rejects.toMatchObject({
      name: "KeyRingBusyError",
      message: expect.stringContaining(`does not show the change to key ${waiting.kid}`),
    });
    // The write itself stands, so the retry, through a replica that sees it, changes nothing and answers with it.
    const b = await ring(bucket, clock);
    const retried = await b.ring.withdraw(waiting.kid, "ops", "leaked");
    expect(retried).toMatchObject({ found: true, changed: false, shown: true, key: { kid: waiting.kid, withdrawn_by: "ops", reason: "leaked" } });
    expect(b.ring.jwks().keys.map((k) => k.kid)).not.toContain(waiting.kid);
    b.cache.stop();
  });

  it("signs with a key from a JWK file, publishing only its public part", async () => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    const dir = mkdtempSync(join(tmpdir(), "sts-jwk-"));
    try {
      const file = join(dir, "signing.jwk");
      writeFileSync(file, JSON.stringify({ ...(await exportJWK(pair.privateKey)), kid: "from-file", alg: "ES256" }), { mode: 0o600 });
      const fromFile = (jwkFile: string) => ringOnBucket(nats, `${BUCKETS.keys}_file`, caches, { policy, jwkFile, now: () => 4_000_000 });
      const { ring: r, cache } = await fromFile(file);
      expect(r.signingKey().kid).toBe("from-file");
      await waitFor(() => [...cache.values()].some((k) => k.kid === "from-file"));
      expect(JSON.stringify([...cache.values()])).not.toMatch(/"d":/);
      expect(await r.maintain()).toBeUndefined();
      // Its key is changed by replacing the file.
      expect(r.fileBacked).toBe(true);
      await expect(r.rotate()).rejects.toThrow(TypeError);
      await expect(r.withdraw("from-file", "ops", "leaked")).rejects.toThrow(TypeError);
      // A kid longer than verifiers take in lineage_kids would break every exchange from its tokens: refused at start.
      const long = join(dir, "long-kid.jwk");
      writeFileSync(long, JSON.stringify({ ...(await exportJWK(pair.privateKey)), kid: "k".repeat(257), alg: "ES256" }), { mode: 0o600 });
      await expect(fromFile(long)).rejects.toThrow(`${long}: its kid is longer than 256 characters`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(["EdDSA", "RS256", "PS256"] as const)(
    "signs with %s when selected",
    async (alg) => {
      const clock = { t: 3_000_000 };
      const { ring: r, cache } = await ring(`${BUCKETS.keys}_${alg}`, clock, alg);
      const key = r.signingKey();
      expect(key.alg).toBe(alg);
      const token = signJwt({ sub: "x" }, key, "JWT");
      const { protectedHeader } = await jwtVerify(token, createLocalJWKSet(r.jwks()));
      expect(protectedHeader.alg).toBe(alg);
      cache.stop();
    },
    30_000,
  );
});
