import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KV } from "@nats-io/kv";
import { OAuthError } from "@sts/errors";
import { KvCache, connectNats, encodeKey, openBucket } from "@sts/nats";
import type { EventPublisher, NatsHandle } from "@sts/nats";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { StalenessGuard } from "@sts/revocation";
import { createLogger } from "@sts/telemetry";
import type { CallerIdentity } from "@sts/mesh";
import type { DecideInput } from "./cedar-engine.js";
import { LivePolicySet } from "./live-policies.js";
import type { LivePolicySetOptions } from "./live-policies.js";
import { policyBucket } from "./policy-bucket.fixture.js";
import { parseStoredPolicy, parseWatchedPolicy, unreadablePolicy } from "./policy-store.js";
import type { StoredPolicy } from "./policy-store.js";
import { bucketGeneration, readBucketGeneration } from "./policy-updated.js";
import type { BucketGeneration, PolicyUpdated } from "./policy-updated.js";

const policy: StoredPolicy = {
  id: "a-to-b",
  text: 'permit (principal == Client::"A", action == Action::"exchange", resource == Audience::"B");',
  description: "",
  source: "api",
  updated_at: 0,
};

/** The bucket holding `initial`, and a write of `policy` again as a bump of its revision. */
function bucket(initial: StoredPolicy[] = [policy]): { cache: KvCache<StoredPolicy>; write(value: StoredPolicy): void; bump(): void } {
  const b = policyBucket(initial);
  return { ...b, bump: () => b.write(policy) };
}

/** Records each publish; `fail(id)` says whether that attempt fails. */
function publisher(fail: (id: string) => boolean): { events: EventPublisher; ids: string[]; data: Map<string, PolicyUpdated>; stored: Set<string> } {
  const ids: string[] = [];
  const data = new Map<string, PolicyUpdated>();
  const stored = new Set<string>();
  const events = {
    publish: (_type: string, payload: PolicyUpdated, options: { id: string }) => {
      ids.push(options.id);
      data.set(options.id, payload);
      if (fail(options.id)) return Promise.reject(new Error("no responders"));
      stored.add(options.id);
      return Promise.resolve({ id: options.id, seq: ids.length, duplicate: false });
    },
  } as unknown as EventPublisher;
  return { events, ids, data, stored };
}

const alice: CallerIdentity = { credential: "access_token", sub: "alice", client_id: "ops-alice", jti: "j-alice" };
const bob: CallerIdentity = { credential: "access_token", sub: "bob", client_id: "ops-bob", jti: "j-bob" };
const written = (id: string, author: CallerIdentity, deleted = false): StoredPolicy => ({
  ...policy,
  id,
  ...(deleted ? { text: "", deleted: true as const } : {}),
  author,
});

const logger = createLogger("policy-test", { level: "silent" });

describe("policy.updated announcements", () => {
  it("are retried with the same event id until one is stored, then stop", async () => {
    let failures = 2;
    const { events, ids } = publisher(() => failures-- > 0);
    new LivePolicySet(bucket().cache, events, logger, { generation: "g", retryMs: 5 });
    await waitFor(() => ids.length === 3, { timeoutMs: 2000, message: "announcement not retried" });
    await new Promise((r) => setTimeout(r, 50));
    expect(ids).toEqual(["policy.updated.g.1", "policy.updated.g.1", "policy.updated.g.1"]);
  });

  it("stop retrying an older revision once a newer one is announced", async () => {
    const kv = bucket();
    const { events, ids } = publisher((id) => id === "policy.updated.g.1");
    const live = new LivePolicySet(kv.cache, events, logger, { generation: "g", retryMs: 5 });
    await waitFor(() => ids.length >= 2, { timeoutMs: 2000, message: "announcement not retried" });
    kv.bump();
    await waitFor(() => live.revision() === 2n && ids.includes("policy.updated.g.2"), { timeoutMs: 2000, message: "newer revision not announced" });
    const settled = ids.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(ids.length).toBe(settled);
    expect(ids.filter((id) => id === "policy.updated.g.2")).toHaveLength(1);
  });

  it("name the change made at their revision and the operator who made it, never a policy left out as deleted", async () => {
    const kv = bucket();
    const { events, data } = publisher(() => false);
    const live = new LivePolicySet(kv.cache, events, logger, { generation: "g", retryMs: 5 });
    kv.write(written("b-to-c", alice));
    await waitFor(() => data.has("policy.updated.g.2"), { timeoutMs: 2000, message: "change not announced" });
    expect(data.get("policy.updated.g.2")).toEqual({
      revision: "2",
      policy_ids: ["a-to-b", "b-to-c"],
      policy_id: "b-to-c",
      operation: "put",
      text_sha256: expect.stringMatching(/^[\w-]{43}$/) as unknown,
      credential: "access_token",
      sub: "alice",
      client_id: "ops-alice",
      jti: "j-alice",
    });
    kv.write(written("a-to-b", bob, true));
    await waitFor(() => data.has("policy.updated.g.3"), { timeoutMs: 2000, message: "deletion not announced" });
    expect(data.get("policy.updated.g.3")).toMatchObject({ policy_ids: ["b-to-c"], policy_id: "a-to-b", operation: "delete", sub: "bob", jti: "j-bob" });
    expect(live.list().map((p) => p.id)).toEqual(["b-to-c"]);
    expect(live.get("a-to-b")).toBeUndefined();
    expect(live.engine().ids()).toEqual(["b-to-c"]);
  });

  it("announce each operator's change of a burst rebuilt at once, with the set in force just after it", async () => {
    const kv = bucket();
    const { events, data } = publisher(() => false);
    const live = new LivePolicySet(kv.cache, events, logger, { generation: "g", retryMs: 5 });
    // In one turn of the event loop: one rebuild, three changes.
    kv.write(written("b-to-c", alice));
    kv.write(written("a-to-b", bob, true));
    kv.write(written("c-to-d", alice));
    await waitFor(() => live.revision() === 4n && data.has("policy.updated.g.4"), { timeoutMs: 2000, message: "burst not announced" });
    expect([2, 3, 4].map((r) => data.get(`policy.updated.g.${r}`))).toMatchObject([
      { policy_ids: ["a-to-b", "b-to-c"], policy_id: "b-to-c", operation: "put", sub: "alice" },
      { policy_ids: ["b-to-c"], policy_id: "a-to-b", operation: "delete", sub: "bob" },
      { policy_ids: ["b-to-c", "c-to-d"], policy_id: "c-to-d", operation: "put", sub: "alice" },
    ]);
  });

  it("keep retrying an operator's change after a newer revision is announced: it is the record of who made it", async () => {
    const kv = bucket();
    let down = true;
    const { events, ids, stored } = publisher((id) => down && id === "policy.updated.g.2");
    const live = new LivePolicySet(kv.cache, events, logger, { generation: "g", retryMs: 5 });
    const attemptsOf2 = (): number => ids.filter((id) => id === "policy.updated.g.2").length;
    kv.write(written("b-to-c", alice));
    await waitFor(() => live.revision() === 2n && attemptsOf2() > 0, { timeoutMs: 2000, message: "change not announced" });
    kv.bump();
    await waitFor(() => ids.includes("policy.updated.g.3"), { timeoutMs: 2000, message: "newer revision not announced" });
    const before = attemptsOf2();
    await waitFor(() => attemptsOf2() > before, { timeoutMs: 2000, message: "operator's change no longer retried" });
    down = false;
    await waitFor(() => stored.has("policy.updated.g.2"), { timeoutMs: 2000, message: "operator's change not stored" });
    const attempts = attemptsOf2();
    await new Promise((r) => setTimeout(r, 60));
    expect(attemptsOf2()).toBe(attempts);
  });
});

describe("a copy reading the bucket again from the start (a reconnect)", () => {
  it("keeps the set in force until the read is done: never a broadened permit without the forbid written after it", async () => {
    const b = policyBucket([policy]);
    const live = new LivePolicySet(b.cache, undefined, logger, { generation: "g" });
    const aToC: DecideInput = {
      clientId: "A",
      audience: "C",
      requestedScopes: [],
      subject: { sub: "u", clientId: "A", iss: "https://sts.test", scopes: [], audience: ["A"] },
      depth: 1,
      actors: [],
      callerInAudience: true,
    };
    const decision = (): string => (live.inForce().engine.decide(aToC).allow ? "allow" : "deny");
    // While NATS was away an operator widened the permit to C, then forbade C: the read delivers them in that order.
    b.reloading(true);
    b.write({ ...policy, text: 'permit (principal == Client::"A", action == Action::"exchange", resource);' });
    for (let turn = 0; turn < 5; turn++) await new Promise((r) => setImmediate(r));
    expect([decision(), live.revision()]).toEqual(["deny", 1n]);
    b.write({ ...policy, id: "no-c", text: 'forbid (principal, action, resource == Audience::"C");' });
    b.reloading(false);
    await waitFor(() => live.revision() === 3n, { timeoutMs: 2000, message: "the set was not rebuilt once the read was done" });
    expect(decision()).toBe("deny");
    expect(live.engine().ids()).toEqual(["a-to-b", "no-c"]);
  });
});

describe("stored policies written to the bucket around the service (real nats-server)", () => {
  let server: NatsServerHandle;
  let nats: NatsHandle;
  let buckets = 0;
  const stops: Array<() => void> = [];

  beforeAll(async () => {
    server = await startNats();
    nats = await connectNats({ servers: server.url, name: "live-policies-test" });
  }, 30_000);

  afterAll(async () => {
    for (const stop of stops) stop();
    await nats?.close();
    await server?.stop();
  });

  const forbid = 'forbid (principal == Client::"A", action == Action::"exchange", resource == Audience::"B");';
  const aToB: DecideInput = {
    clientId: "A",
    audience: "B",
    requestedScopes: [],
    subject: { sub: "u", clientId: "A", iss: "https://sts.test", scopes: [], audience: ["A"] },
    depth: 1,
    actors: [],
    callerInAudience: true,
  };
  const put = (kv: KV, key: string, value: StoredPolicy): Promise<number> => kv.put(key, JSON.stringify(value));

  /** A bucket of its own (no test sees another's writes), holding `initial` as written straight into it, key by key. */
  async function freshBucket(initial: ReadonlyArray<[string, StoredPolicy]>): Promise<KV> {
    const kv = await openBucket(nats, `live_policies_${++buckets}`, { owner: true, history: 10 });
    for (const [key, value] of initial) await put(kv, key, value);
    return kv;
  }

  /** A replica's live set over the bucket, as main.ts wires it (with `options` on top), and the error lines it logs. */
  async function liveOver(
    kv: KV,
    options: Pick<LivePolicySetOptions, "staleness" | "probeIntervalMs" | "now"> = {},
  ): Promise<{ live: LivePolicySet; cache: KvCache<StoredPolicy>; errors: () => string[] }> {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split("\n").filter(Boolean));
        done();
      },
    });
    const log = createLogger("live-policies-test", { level: "error", destination });
    const probe = options.probeIntervalMs !== undefined ? { probeIntervalMs: options.probeIntervalMs } : {};
    const cache = new KvCache(kv, { parse: parseWatchedPolicy, unreadable: unreadablePolicy, invalid: "keep-previous", logger: log, ...probe });
    stops.push(() => cache.stop());
    await cache.ready();
    const live = new LivePolicySet(cache, undefined, log, { generation: "g", ...options });
    return { live, cache, errors: () => lines.map((l) => (JSON.parse(l) as { msg: string }).msg) };
  }

  /** How Decide would end on this replica: its allow, or the OAuth error it is refused with. */
  function decideOn(live: LivePolicySet): string {
    try {
      return live.inForce().engine.decide(aToB).allow ? "allow" : "deny";
    } catch (err) {
      return err instanceof OAuthError ? err.code : String(err);
    }
  }

  // A set kept because the bucket's policies do not make one is behind the bucket: an operator's forbid stored through
  // Put since is in force nowhere. README "Policies": decided from for policy.max_staleness at most, as a copy cut off
  // from NATS is, then refused. The revocation readers' StalenessGuard, on a clock the test moves.
  it("decide from a kept set for policy.max_staleness at most, then refuse (temporarily_unavailable, not ready) until the bucket makes a set", async () => {
    const MAX_STALENESS_MS = 30_000;
    // Long probe periods: the copy itself stays within its allowance whatever the test clock does.
    const PROBE_MS = 600_000;
    let now = Date.now();
    const connection = { isConnected: () => true, onStatusChange: () => undefined };
    const kv = await freshBucket([[encodeKey(policy.id), policy]]);
    const { live, cache, errors } = await liveOver(kv, {
      staleness: new StalenessGuard(connection, MAX_STALENESS_MS, () => now),
      probeIntervalMs: PROBE_MS,
      now: () => now,
    });
    expect([decideOn(live), live.fresh()]).toEqual(["allow", true]);

    // A record that no longer validates (it names an attribute the schema does not have), then an operator's forbid of
    // the very exchange: both stored, neither in force.
    await put(kv, encodeKey("legacy"), { ...policy, id: "legacy", text: "permit (principal, action, resource) when { context.legacy_flag };" });
    await put(kv, encodeKey("freeze-a"), { ...policy, id: "freeze-a", text: 'forbid (principal == Client::"A", action, resource);' });
    await waitFor(() => cache.revision === 3, { timeoutMs: 10_000, message: "the copy did not take the writes" });
    await waitFor(() => errors().some((m) => m.includes("do not validate")), { timeoutMs: 10_000, message: "the outdated record was not refused" });
    expect(live.revision()).toBe(1n);

    now += MAX_STALENESS_MS;
    expect([decideOn(live), live.fresh()]).toEqual(["allow", true]);
    now += 1;
    // Past the bound the forbid stored meanwhile may be in force on no replica: no allow from the older set.
    expect([decideOn(live), live.fresh()]).toEqual(["temporarily_unavailable", false]);

    // Once the outdated record is removed the bucket makes a set again: decided from at once, the forbid in force.
    await kv.delete(encodeKey("legacy"));
    await waitFor(() => live.revision() === 4n, { timeoutMs: 10_000, message: "the set did not follow the bucket once the record was removed" });
    expect([decideOn(live), live.fresh()]).toEqual(["deny", true]);
  }, 30_000);

  it("keep the set in force, and the process running, when a second record of a policy's id appears under another key", async () => {
    const kv = await freshBucket([[encodeKey(policy.id), policy]]);
    const { live, cache, errors } = await liveOver(kv);
    expect([live.engine().ids(), live.revision()]).toEqual([["a-to-b"], 1n]);
    // Same Cedar id, another key: each validates alone, and the two cannot make one engine.
    await put(kv, encodeKey("copy"), { ...policy, text: forbid });
    await waitFor(() => errors().some((m) => m.includes("keeping the policy set in force")), {
      timeoutMs: 10_000,
      message: "the record under another key was not refused",
    });
    expect(cache.entries()).toHaveLength(2);
    expect([live.engine().ids(), live.revision(), live.engine().decide(aToB).allow]).toEqual([["a-to-b"], 1n, true]);
    expect(live.get(policy.id)).toMatchObject({ text: policy.text, revision: 1n });
    expect(live.list().map((p) => [p.id, p.revision])).toEqual([["a-to-b", 1n]]);
    // Once the key is gone the set follows the bucket again.
    await kv.delete(encodeKey("copy"));
    await waitFor(() => live.revision() === 3n, { timeoutMs: 10_000, message: "the set did not follow the bucket once the key was removed" });
    expect(live.engine().ids()).toEqual(["a-to-b"]);
  });

  it("start without throwing, denying everything, when the bucket already holds two records of one id", async () => {
    const kv = await freshBucket([
      [encodeKey(policy.id), policy],
      [encodeKey("copy"), { ...policy, text: forbid }],
    ]);
    const { live, errors } = await liveOver(kv);
    expect([live.engine().ids(), live.revision(), live.engine().decide(aToB).allow]).toEqual([[], 0n, false]);
    expect(errors().some((m) => m.includes("not their id's"))).toBe(true);
  });

  it("keep the set in force when a record is not even JSON (half written, another release's encoding), rather than leave it out", async () => {
    const kv = await freshBucket([[encodeKey(policy.id), policy]]);
    const { live, errors } = await liveOver(kv);
    // Left out, a forbid it carries would simply not exist; a replica started now would never have held it.
    await kv.put(encodeKey("freeze"), "forbid-in-a-newer-encoding");
    await waitFor(() => errors().some((m) => m.includes("not policies this release can read")), {
      timeoutMs: 10_000,
      message: "the unreadable record was left out",
    });
    expect([live.engine().ids(), live.revision()]).toEqual([["a-to-b"], 1n]);
    await kv.delete(encodeKey("freeze"));
    await waitFor(() => live.revision() === 3n, { timeoutMs: 10_000, message: "the set did not follow the bucket once the key was removed" });
  });

  it("refuse a record under another id's key, even when no other record has its id", async () => {
    const kv = await freshBucket([[encodeKey(policy.id), policy]]);
    const { live, errors } = await liveOver(kv);
    // A forbid of A to B named "strays", stored under the key of "b-to-c": Get and Put of "strays" would never find it.
    await put(kv, encodeKey("b-to-c"), { ...policy, id: "strays", text: forbid });
    await waitFor(() => errors().some((m) => m.includes("not their id's")), { timeoutMs: 10_000, message: "the misfiled record was not refused" });
    expect([live.engine().ids(), live.revision()]).toEqual([["a-to-b"], 1n]);
    expect(live.get("strays")).toBeUndefined();
    expect(live.get("b-to-c")).toBeUndefined();
  });

  it("keep the set in force when policies that each validate cannot be built into an engine", async () => {
    const kv = await freshBucket([[encodeKey(policy.id), policy]]);
    const { live, errors } = await liveOver(kv);
    // The empty id is stored under its own key ("="), and its text validates; the engine takes no empty id.
    await put(kv, encodeKey(""), { ...policy, id: "", text: forbid });
    await waitFor(() => errors().some((m) => m.includes("do not make a policy set")), { timeoutMs: 10_000, message: "the failed build was not logged" });
    expect([live.engine().ids(), live.revision(), live.engine().decide(aToB).allow]).toEqual([["a-to-b"], 1n, true]);
  });
});

describe("a policies bucket made anew", () => {
  /** A copy holding `count` policies written at `created`, at revisions 1..count, the copy's count at `revision`. */
  function copyOf(count: number, created: Date, revision = count) {
    const entries = new Map<string, { value: StoredPolicy; revision: number; created: Date }>();
    for (let i = 1; i <= count; i++) entries.set(encodeKey(`p${i}`), { value: { ...policy, id: `p${i}` }, revision: i, created });
    const cache = {
      values: () => [...entries.values()].map((e) => e.value)[Symbol.iterator](),
      entries: () => [...entries.entries()],
      entry: (key: string) => entries.get(key),
      revision,
      onChange: () => undefined,
      onLoaded: () => undefined,
      reloading: false,
    } as unknown as KvCache<StoredPolicy>;
    return { cache };
  }
  const made = new Date(1_700_000_000_000);
  const standing = (lastRevision: bigint): BucketGeneration => ({ id: "2", createdMs: made.getTime(), lastRevision });
  /** Lets every promise already settled run its reactions (the fake reads below answer at once). */
  const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

  it("answers in the new generation once the set in force was read from it alone, and announces the set under it", async () => {
    const { cache } = copyOf(2, new Date(made.getTime() + 1));
    const { events, ids } = publisher(() => false);
    const live = new LivePolicySet(cache, events, logger, { generation: "1", readGeneration: async () => standing(2n) });
    await waitFor(() => live.generation() === "2", { timeoutMs: 2000, message: "the new generation was not taken" });
    expect([live.inForce().generation, live.inForce().revision]).toEqual(["2", 2n]);
    await waitFor(() => ids.includes("policy.updated.2.2"), { timeoutMs: 2000, message: "the set was not announced under the new generation" });
  });

  it("keeps the old generation while the set holds a version written before the bucket was made, or a revision past its last", async () => {
    let reads = 0;
    const readGeneration = async (): Promise<BucketGeneration> => {
      reads++;
      return standing(2n);
    };
    const older = new LivePolicySet(copyOf(2, new Date(made.getTime() - 1)).cache, undefined, logger, { generation: "1", readGeneration });
    // The copy's count carried over from the old bucket: revision 9 where the new bucket holds 2.
    const ahead = new LivePolicySet(copyOf(2, made, 9).cache, undefined, logger, { generation: "1", readGeneration });
    await flush();
    expect([reads, older.generation(), ahead.generation()]).toEqual([2, "1", "1"]);
  });

  it("reads the generation again, retrying, until NATS answers", async () => {
    let failures = 3;
    const live = new LivePolicySet(copyOf(1, made).cache, undefined, logger, {
      generation: "1",
      retryMs: 5,
      readGeneration: async () => {
        if (failures-- > 0) throw new Error("no responders");
        return standing(1n);
      },
    });
    await waitFor(() => live.generation() === "2", { timeoutMs: 2000, message: "the generation was not read again" });
    live.stop();
  });

  describe("(real nats-server)", () => {
    let server: NatsServerHandle;
    let nats: NatsHandle;

    beforeAll(async () => {
      server = await startNats();
      nats = await connectNats({ servers: server.url, name: "live-policies-remade" });
    }, 30_000);

    afterAll(async () => {
      await nats?.close();
      await server?.stop();
    });

    it("is followed by a running replica: the new bucket's set, at its own revisions, in its generation", async () => {
      const name = "live_policies_remade";
      const kv = await openBucket(nats, name, { owner: true, history: 10 });
      for (const id of ["old/1", "old/2", "old/3", "old/4", "old/5"]) await kv.put(encodeKey(id), JSON.stringify({ ...policy, id }));
      const cache = new KvCache(kv, { parse: parseStoredPolicy, invalid: "keep-previous", logger, probeIntervalMs: 200 });
      await cache.ready();
      const before = await bucketGeneration(kv);
      const { events, ids } = publisher(() => false);
      const live = new LivePolicySet(cache, events, logger, { generation: before, retryMs: 20, readGeneration: () => readBucketGeneration(kv) });
      try {
        expect([live.revision(), live.generation()]).toEqual([5n, before]);
        // An operator's reset: the bucket destroyed and made again, written anew from revision 1.
        await kv.destroy();
        const again = await openBucket(nats, name, { owner: true, history: 10 });
        for (const id of ["new/1", "new/2"]) await again.put(encodeKey(id), JSON.stringify({ ...policy, id }));
        const after = await bucketGeneration(again);
        expect(after).not.toBe(before);
        await waitFor(() => live.generation() === after && live.revision() === 2n, {
          timeoutMs: 10_000,
          message: "the running replica did not follow the bucket made anew",
        });
        expect(live.inForce().engine.ids()).toEqual(["new/1", "new/2"]);
        await waitFor(() => ids.includes(`policy.updated.${after}.2`), { timeoutMs: 2000, message: "not announced under the new generation" });
      } finally {
        live.stop();
        cache.stop();
      }
    }, 30_000);
  });
});
