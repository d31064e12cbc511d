/**
 * Two issuer replicas withdrawing the same signing key at the same moment, on a real nats-server: each replica has
 * its own connection, keys cache and ring over one keys bucket, as two issuer processes do. However the two calls
 * interleave, one successor is brought forward (the waiting key when there is one, else one new key), both calls
 * answer with it and with the one stored record, every replica signs with it, and one key.withdrawn names it.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Metadata } from "@grpc/grpc-js";
import { SigningKeyRing, parseMasterKey } from "@sts/keys";
import type { KeyStore, StoredKey } from "@sts/keys";
import { BUCKETS, EVENTS_STREAM, EventPublisher, connectNats, ensureEventsStream, openBucket } from "@sts/nats";
import type { KvCache, NatsHandle } from "@sts/nats";
import { RevocationCache, RevocationList, keyWithdrawalKey } from "@sts/revocation";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import type { Logger } from "@sts/telemetry";
import type { WithdrawKeyResponse } from "@sts/proto";
import { kvKeyStore } from "./key-store.js";
import { ringOnBucket } from "./ring.fixture.js";
import { COMPLETION_GRACE_SECONDS, completeWithdrawals, withdrawKey } from "./key-management.js";
import type { KeyManagementDeps, WithdrawalCompletionDeps } from "./key-management.js";

const STS = "https://sts.test";
const T = 1_900_000_000;
const policy = { rotateAfter: 1000, maxTokenLifetime: 300, clockTolerance: 30 };
const master = parseMasterKey(randomBytes(32).toString("base64url"));
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as Logger;
/** Rounds per test: the interleaving that forks the ring depends on when each replica's watch delivers the other's write. */
const ROUNDS = 12;

let server: NatsServerHandle;
/** One connection per replica, as two issuer processes have. */
const connections: NatsHandle[] = [];
let revocations: RevocationList;
let revocationCache: RevocationCache;
let revocationsKv: Awaited<ReturnType<typeof openBucket>>;
const caches: Array<{ stop(): void }> = [];
let buckets = 0;

beforeAll(async () => {
  server = await startNats();
  for (const name of ["replica-a", "replica-b"]) connections.push(await connectNats({ servers: server.url, name }));
  revocationsKv = await openBucket(connections[0] as NatsHandle, BUCKETS.revocations, { owner: true });
  revocationCache = new RevocationCache(revocationsKv, { clockToleranceSeconds: 0, now: () => T });
  await revocationCache.ready();
  revocations = new RevocationList(revocationsKv, revocationCache);
}, 30_000);

afterAll(async () => {
  for (const c of caches) c.stop();
  revocationCache?.stop();
  for (const c of connections) await c.close();
  await server?.stop();
});

beforeEach(async () => {
  const nats = connections[0] as NatsHandle;
  await nats.jsm.streams.delete(EVENTS_STREAM.name).catch(() => undefined);
  await ensureEventsStream(nats);
});

interface Replica {
  ring: SigningKeyRing;
  deps: KeyManagementDeps;
  cache: KvCache<StoredKey>;
  /** The keys bucket both replicas share. */
  bucket: string;
}

/**
 * Two replicas (own connection, cache, ring and KeyService deps each) over a keys bucket of their own, at `clock` (b at
 * `clockB`). Each is called by its own operator (ops-a, ops-b), or with `oneClient` by one operator client (ops) through
 * two sessions; either way the calls' tokens are ops-a-jti and ops-b-jti.
 */
async function replicas(clockA: { t: number }, clockB: { t: number } = clockA, oneClient = false): Promise<[Replica, Replica]> {
  const bucket = `${BUCKETS.keys}_replicas${++buckets}`;
  const made: Replica[] = [];
  for (const [i, nats] of connections.entries()) {
    const clock = i === 0 ? clockA : clockB;
    const { ring, cache } = await ringOnBucket(nats, bucket, caches, {
      policy,
      masterKey: master,
      // As main.ts wires it.
      revokedKid: (kid) => revocationCache.isKeyWithdrawn(STS, kid),
      now: () => clock.t,
    });
    const session = `ops-${"ab"[i]}`;
    const operator = oneClient ? "ops" : session;
    const deps: KeyManagementDeps = {
      issuer: STS,
      ring,
      revocations: new RevocationList(await openBucket(nats, BUCKETS.revocations), revocationCache),
      events: new EventPublisher(nats, { source: `issuer-${i}`, retries: 1, retryWindowMs: 100, timeoutMs: 2_000 }),
      coversSeconds: policy.maxTokenLifetime + policy.clockTolerance,
      now: () => clock.t,
      scopes: { read: "keys:read", manage: "keys:manage" },
      authenticate: () => Promise.resolve({ credential: "access_token", sub: operator, client_id: operator, jti: `${session}-jti` }),
    };
    made.push({ ring, deps, cache, bucket });
  }
  return made as [Replica, Replica];
}

/** The keys the bucket holds in force, from `replica`'s cache once `until` says it has caught up. */
async function keysOnceSeen(replica: Replica, until: (keys: StoredKey[]) => boolean): Promise<StoredKey[]> {
  return waitFor(
    () => {
      const keys = [...replica.cache.values()];
      return until(keys) && keys;
    },
    { timeoutMs: 5_000, message: "the replica's cache never caught up" },
  );
}

/** The key.withdrawn events stored for `kid`. */
async function withdrawnEvents(kid: string): Promise<Array<Record<string, unknown>>> {
  const nats = connections[0] as NatsHandle;
  const info = await nats.jsm.streams.info(EVENTS_STREAM.name);
  const out: Array<Record<string, unknown>> = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await nats.jsm.streams.getMessage(EVENTS_STREAM.name, { seq });
    const e = m?.json<{ type: string; data: Record<string, unknown> }>();
    if (e?.type === "key.withdrawn" && e.data.kid === kid) out.push(e.data);
  }
  return out;
}

/**
 * What every replica must agree on after `kid` was withdrawn by both at once: `successor` signs on both rings, and the
 * bucket holds `kid`, withdrawn, and `successor`, nothing more; one key.withdrawn names the successor, under the
 * stored record's operator; the kid record is in that operator's words.
 */
async function expectOneSuccessor(a: Replica, b: Replica, kid: string, successor: string): Promise<void> {
  for (const r of [a, b]) {
    await waitFor(() => r.ring.signingKey().kid === successor, { timeoutMs: 5_000, message: `a replica does not sign with ${successor}` });
  }
  const keys = await keysOnceSeen(b, (ks) => ks.some((k) => k.kid === kid && k.withdrawn_at !== undefined));
  // A second successor would be one key more: brought forward (or made) by the replica that lost the race.
  expect(keys.map((k) => [k.kid, k.withdrawn_at !== undefined]).sort()).toEqual(
    [
      [kid, true],
      [successor, false],
    ].sort(),
  );
  expect(a.ring.jwks()).toEqual(b.ring.jwks());
  const record = keys.find((k) => k.kid === kid);
  const events = await withdrawnEvents(kid);
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ successor, by: record?.withdrawn_by, client_id: record?.withdrawn_by, reason: record?.reason });
  // The token of the call whose write stood, whichever call's event was stored first.
  expect(events[0]?.operator_jti).toBe(record?.withdrawn_jti);
  const kidRecord = (await revocationsKv.get(keyWithdrawalKey(STS, kid)))?.json<Record<string, unknown>>();
  expect(kidRecord).toMatchObject({ kid, by: record?.withdrawn_by, reason: record?.reason });
  expect(kidRecord?.operator_jti).toBe(record?.withdrawn_jti);
}

/** The two calls' answers agree: same record (the one stored), same successor. */
function expectSameAnswer(answers: WithdrawKeyResponse[]): string {
  const [first, second] = answers;
  expect(second?.successor).toBe(first?.successor);
  expect(second?.key).toEqual(first?.key);
  expect(first?.successor).toBeTruthy();
  return first?.successor ?? "";
}

/** Two replicas at `T` (see {@link replicas}), the signing key's kid, and its successor made on `a`, waiting (pre-published), once `b` sees it. */
async function replicasWithWaitingKey(clockB?: {
  t: number;
}): Promise<{ clock: { t: number }; a: Replica; b: Replica; kid: string; waiting: string; activateAt: number }> {
  const clock = { t: T };
  const [a, b] = await replicas(clock, clockB ?? clock);
  const kid = a.ring.signingKey().kid;
  const { kid: waiting, activate_at: activateAt } = await a.ring.rotate();
  await waitFor(() => b.ring.statuses().some((s) => s.key.kid === waiting), { timeoutMs: 5_000, message: "b never saw the waiting key" });
  return { clock, a, b, kid, waiting, activateAt };
}

/**
 * After withdrawals that raced: both replicas sign, with the same key, one the bucket holds live; and it is the only
 * live key that signs or waits (a fork would leave two).
 */
async function expectOneLiveSigningKey(a: Replica, b: Replica): Promise<string> {
  const kid = await waitFor(
    () => {
      const [ka, kb] = [a, b].map((r) => {
        try {
          return r.ring.signingKey().kid;
        } catch {
          return undefined;
        }
      });
      return ka !== undefined && ka === kb && ka;
    },
    { timeoutMs: 5_000, message: "the replicas do not agree on a key to sign with" },
  );
  const live = (await keysOnceSeen(b, (ks) => ks.some((k) => k.kid === kid))).filter((k) => k.withdrawn_at === undefined);
  expect(live.map((k) => k.kid)).toEqual([kid]);
  return kid;
}

/** Both operators' Withdraw calls on `kid`, started together, each through its own replica and in its own words. */
const withdrawBoth = (kid: string, a: Replica, b: Replica): Promise<WithdrawKeyResponse[]> =>
  Promise.all([withdrawKey({ kid, reason: "leaked, said a" }, new Metadata(), a.deps), withdrawKey({ kid, reason: "leaked, said b" }, new Metadata(), b.deps)]);

describe("two replicas withdrawing the same signing key at once", () => {
  it("bring the waiting successor forward once: both answer with it, both sign with it, no second key is made, one key.withdrawn names it", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const { clock, a, b, kid, waiting } = await replicasWithWaitingKey();
      clock.t += 10; // the waiting key would sign in 55 s
      const successor = expectSameAnswer(await withdrawBoth(kid, a, b));
      expect(successor).toBe(waiting);
      await expectOneSuccessor(a, b, kid, successor);
    }
  }, 120_000);

  it("make one replacement when no successor waits: both answer with it, sign with it, and keep the kid record in the stored record's words", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const [a, b] = await replicas({ t: T });
      const kid = a.ring.signingKey().kid;
      const successor = expectSameAnswer(await withdrawBoth(kid, a, b));
      expect(successor).not.toBe(kid);
      await expectOneSuccessor(a, b, kid, successor);
    }
  }, 120_000);

  it("name the token of the call whose write stood when one operator withdraws through two sessions at once", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const [a, b] = await replicas({ t: T }, { t: T }, true);
      const kid = a.ring.signingKey().kid;
      const successor = expectSameAnswer(await withdrawBoth(kid, a, b));
      await expectOneSuccessor(a, b, kid, successor);
      const record = (await keysOnceSeen(a, (ks) => ks.some((k) => k.kid === kid && k.withdrawn_at !== undefined))).find((k) => k.kid === kid);
      // Its reason and its token are one call's: "leaked, said a" with ops-a-jti, or b's with b's.
      expect(record?.withdrawn_jti).toBe(`ops-${record?.reason?.slice(-1)}-jti`);
    }
  }, 120_000);

  it("complete a cut-off withdrawal once when both replicas' completers run at the same moment", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const { clock, a, b, kid, waiting } = await replicasWithWaitingKey();
      // What a Withdraw call cut off after its revocation leaves behind, in the operator's words.
      await revocations.withdrawKey({ iss: STS, kid, revoked_at: T, exp: T + 330, by: "ops-a", reason: "leaked in CI logs" });
      await waitFor(() => revocationCache.isKeyWithdrawn(STS, kid), { timeoutMs: 5_000, message: "the kid is not in the revocations" });
      clock.t = T + COMPLETION_GRACE_SECONDS;
      const completion = (r: Replica): WithdrawalCompletionDeps => ({
        issuer: STS,
        ring: r.ring,
        revocations,
        events: r.deps.events,
        logger: silent,
        now: () => clock.t,
      });
      const done = await Promise.all([completeWithdrawals(completion(a)), completeWithdrawals(completion(b))]);
      // One replica's pass withdrew it; the other found it withdrawn, which is the first one's to announce.
      expect(done.flat()).toEqual([kid]);
      await expectOneSuccessor(a, b, kid, waiting);
    }
  }, 120_000);
});

describe("withdrawals of a signing key and of its successor", () => {
  it("never bring a key forward as its own successor: a replica whose clock is behind still finds the ring a key to sign with", async () => {
    const clockB = { t: T };
    const { clock, a, b, kid, waiting } = await replicasWithWaitingKey(clockB);
    clock.t = T + 10;
    clockB.t = T + 9;
    // a brings the waiting key forward to T + 10; b, a second behind, sees it as not yet signing, the only live key.
    expect((await withdrawKey({ kid, reason: "leaked" }, new Metadata(), a.deps)).successor).toBe(waiting);
    await waitFor(() => b.ring.statuses().some((s) => s.key.kid === kid && s.state === "withdrawn"), {
      timeoutMs: 5_000,
      message: "b never saw the withdrawal",
    });
    const answer = await withdrawKey({ kid: waiting, reason: "leaked too" }, new Metadata(), b.deps);
    expect(answer.successor).not.toBe(waiting);
    expect(await expectOneLiveSigningKey(a, b)).toBe(answer.successor);
  }, 30_000);

  it("leave one key signing when both are withdrawn at once from two replicas a second apart, at the successor's activation", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const clockB = { t: T };
      const { clock, a, b, kid, waiting, activateAt } = await replicasWithWaitingKey(clockB);
      // a sees the waiting key signing already, b a second before: each takes the other key for the one that signs on.
      clock.t = activateAt;
      clockB.t = activateAt - 1;
      await Promise.all([
        withdrawKey({ kid, reason: "leaked, said a" }, new Metadata(), a.deps),
        withdrawKey({ kid: waiting, reason: "leaked, said b" }, new Metadata(), b.deps),
      ]);
      const signing = await expectOneLiveSigningKey(a, b);
      expect([kid, waiting]).not.toContain(signing);
    }
  }, 120_000);

  /**
   * a withdraws the signing key at the waiting key's activation second, through a ring over a store that lets b's
   * whole withdrawal of the waiting key in after a has written its own and before a reads its successor back: b, its
   * clock `skewB` seconds off a's, takes the waiting key (or, the signing key withdrawn, the only live one) for the
   * signing key and makes it a successor; a then finds its own successor withdrawn. `rotateFirst` makes the signing
   * key a rotation's successor, so that an older key is still published.
   */
  async function raceThroughGate(skewB: number, rotateFirst = false) {
    const clock = { t: T };
    const clockB = { t: T };
    const [a, b] = await replicas(clock, clockB);
    if (rotateFirst) {
      const { kid: next, activate_at } = await a.ring.rotate();
      clock.t = clockB.t = activate_at + 1;
      await waitFor(() => a.ring.signingKey().kid === next && b.ring.signingKey().kid === next, { timeoutMs: 5_000 });
    }
    const older = rotateFirst ? a.ring.statuses().find((s) => s.state === "verifying")?.key.kid : undefined;
    const kid = a.ring.signingKey().kid;
    const { kid: waiting, activate_at: activateAt } = await a.ring.rotate();
    await waitFor(() => b.ring.statuses().some((s) => s.key.kid === waiting), { timeoutMs: 5_000, message: "b never saw the waiting key" });
    clock.t = activateAt;
    clockB.t = activateAt + skewB;
    const base = kvKeyStore(await openBucket(connections[0] as NatsHandle, a.bucket), a.cache);
    let bDone: Promise<WithdrawKeyResponse> | undefined;
    const gated: KeyStore = {
      ...base,
      update: async (name, value, revision) => {
        const written = await base.update(name, value, revision);
        if (written && name === `key.${kid}`) {
          await waitFor(() => b.ring.statuses().some((s) => s.key.kid === kid && s.state === "withdrawn"), { timeoutMs: 5_000 });
          bDone = withdrawKey({ kid: waiting, reason: "leaked, said b" }, new Metadata(), b.deps);
        }
        return written;
      },
      get: async (name) => {
        if (name === `key.${waiting}` && bDone) await bDone;
        return base.get(name);
      },
    };
    const ringA = new SigningKeyRing({ store: gated, algorithm: "ES256", policy, masterKey: master, prepublishSeconds: 65, now: () => clock.t });
    await ringA.init();
    const aAnswer = await withdrawKey({ kid, reason: "leaked, said a" }, new Metadata(), { ...a.deps, ring: ringA });
    expect(bDone).toBeDefined();
    return { a, b, kid, waiting, older, aAnswer, bAnswer: await (bDone as Promise<WithdrawKeyResponse>), clock, clockB };
  }

  it.each([-1, 1])(
    "leave one key signing when the successor's withdrawal lands between the other's write and its check (b's clock %i s off)",
    async (skewB) => {
      const { a, b, kid, waiting, aAnswer, bAnswer } = await raceThroughGate(skewB);
      // b made the waiting key's successor; a answers with it too, made to sign on its clock, instead of making another.
      expect([kid, waiting]).not.toContain(bAnswer.successor);
      expect(aAnswer.successor).toBe(bAnswer.successor);
      expect(await expectOneLiveSigningKey(a, b)).toBe(bAnswer.successor);
    },
    30_000,
  );

  it("bring a new key forward, not an older one still published, when the other replica made none", async () => {
    const { a, b, kid, waiting, older, aAnswer, bAnswer, clockB } = await raceThroughGate(-1, true);
    // b, a second behind, took the older key for the one signing and made nothing; a makes a new key.
    expect(older).toBeDefined();
    expect(bAnswer.successor).toBe(older);
    expect([kid, waiting, older]).not.toContain(aAnswer.successor);
    // Once b's clock reaches a's, both sign with the new key.
    clockB.t += 1;
    await waitFor(() => a.ring.signingKey().kid === aAnswer.successor && b.ring.signingKey().kid === aAnswer.successor, {
      timeoutMs: 5_000,
      message: "the replicas do not sign with the new key",
    });
  }, 30_000);

  it("take over a withdrawn key's replacement lock whose key was never written within seconds, not a minute", async () => {
    const { clock, a, kid, waiting } = await replicasWithWaitingKey();
    // What a replica that died between naming a replacement and writing it leaves behind.
    const store = kvKeyStore(await openBucket(connections[0] as NatsHandle, a.bucket), a.cache);
    expect(await store.create(`replacement.${kid}`, { kid: "ghost", at: T })).toBe(true);
    clock.t = T + 11;
    const answer = await withdrawKey({ kid, reason: "leaked" }, new Metadata(), a.deps);
    expect(answer.successor).toBe(waiting);
    expect(a.ring.signingKey().kid).toBe(waiting);
  }, 30_000);

  it("never bring forward a waiting key whose withdrawal an operator began: the minter would refuse it", async () => {
    const { clock, a, b, kid, waiting } = await replicasWithWaitingKey();
    // Another operator's Withdraw of the waiting key, its kid record written, the rest still to come.
    await revocations.withdrawKey({ iss: STS, kid: waiting, revoked_at: T, exp: T + 330, by: "ops-b", reason: "its file leaked" });
    await waitFor(() => revocationCache.isKeyWithdrawn(STS, waiting), { timeoutMs: 5_000, message: "the kid is not in the revocations" });
    clock.t = T + 10;
    const answer = await withdrawKey({ kid, reason: "leaked" }, new Metadata(), a.deps);
    expect([kid, waiting]).not.toContain(answer.successor);
    await waitFor(() => b.ring.signingKey().kid === answer.successor, { timeoutMs: 5_000, message: "b does not sign with the new key" });
  }, 30_000);
});
