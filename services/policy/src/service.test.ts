/**
 * Policy replicas as main.ts wires them, each on its own NATS connection and
 * gRPC port, over a real nats-server: an operator's change is answered only
 * once its policy.updated record is stored, a Delete applies only to the
 * version the replica runs, a writer that gives up leaves nothing behind, and
 * a replica that starts announces again every operator's change the bucket's
 * history holds, so a record every replica before it failed to store is
 * stored, with its author and the time the change was made, even when newer
 * records are.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata, credentials } from "@grpc/grpc-js";
import type { CallOptions, ServiceError } from "@grpc/grpc-js";
import type { KV } from "@nats-io/kv";
import { OAuthError } from "@sts/errors";
import { startGrpcServer } from "@sts/grpc";
import type { CallerIdentity } from "@sts/mesh";
import { EVENTS_STREAM, EventPublisher, KvCache, connectNats, encodeKey, ensureEventsStream, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { loadPolicyProto } from "@sts/proto";
import type { Policy__Output, PutResponse__Output, ResetResponse__Output } from "@sts/proto";
import { createLogger } from "@sts/telemetry";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import type { CompiledPolicy } from "./hops.js";
import { LivePolicySet } from "./live-policies.js";
import { announceHistory } from "./missed-records.js";
import { breakGlassOnly } from "./operators.fixture.js";
import { PolicyStore, parseStoredPolicy } from "./policy-store.js";
import type { StoredPolicy } from "./policy-store.js";
import { bucketGeneration } from "./policy-updated.js";
import type { PolicyUpdated } from "./policy-updated.js";
import { policyService } from "./service.js";

const BUCKET = "test_policies";
const SECRET = "break-glass-secret-for-the-policy-test";
const BREAK_GLASS: CallerIdentity = { credential: "break_glass", sub: "break-glass", client_id: "", jti: "" };
const alice: CallerIdentity = { credential: "access_token", sub: "alice", client_id: "ops-alice", jti: "j-alice" };
const bob: CallerIdentity = { credential: "access_token", sub: "bob", client_id: "ops-bob", jti: "j-bob" };
const text = (to: string): string => `permit (principal == Client::"A", action == Action::"exchange", resource == Audience::"${to}");`;
const logger = createLogger("policy-service-test", { level: "silent" });
/** A policy text's SHA-256 as policy.updated names it (the exact digest is pinned in policy-updated.test.ts). */
const SHA256 = expect.stringMatching(/^[\w-]{43}$/) as unknown as string;
const proto = loadPolicyProto();
const operators = breakGlassOnly(SECRET);

let server: NatsServerHandle;
/** The test's own connection and view of the bucket: what it reads is never a replica's doing. */
let admin: NatsHandle;
let bucket: KV;

/** One policy replica: its connection, cache, live set, store and gRPC server. */
/** A grpc-js unary method as the generated client has it. */
type UnaryMethod = (request: object, metadata: Metadata, options: CallOptions, callback: (err: ServiceError | null, res?: unknown) => void) => void;

interface Replica {
  /** The policies bucket's generation, part of each policy.updated id. */
  generation: string;
  store: PolicyStore;
  live: LivePolicySet;
  cache: KvCache<StoredPolicy>;
  /** The replay of the bucket's history: how many records it stored. */
  replayed: Promise<number>;
  /** Calls the replica's PolicyService with the break-glass credential. */
  call<T>(method: string, request: object, deadlineMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/** Starts a replica whose config file declares `configPolicies`, its policy.max_policies set from the count it finds in force. */
async function startReplica(configPolicies: ReadonlyMap<string, CompiledPolicy> = new Map(), maxPolicies = (_held: number) => 1000): Promise<Replica> {
  const nats = await connectNats({ servers: server.url, name: "policy-replica" });
  const kv = await openBucket(nats, BUCKET, { owner: true, history: 10 });
  const cache = new KvCache(kv, { parse: parseStoredPolicy, invalid: "keep-previous", logger });
  await cache.ready();
  const events = new EventPublisher(nats, { source: "sts/policy", logger, retryWindowMs: 300 });
  const generation = await bucketGeneration(kv);
  const live = new LivePolicySet(cache, events, logger, { generation, retryMs: 50 });
  let stopped = false;
  const replayed = announceHistory(kv, events, logger, { generation, retryMs: 50, stopped: () => stopped });
  const store = new PolicyStore(kv, () => 1_700_000_000);
  const grpc = await startGrpcServer({
    port: 0,
    services: [
      {
        definition: proto.sts.policy.v1.PolicyService.service,
        implementation: policyService({ live, store, operators, logger, configPolicies, maxPolicies: maxPolicies(live.list().length) }),
      },
    ],
    logger,
  });
  const client = new proto.sts.policy.v1.PolicyService(grpc.address, credentials.createInsecure());
  const metadata = (): Metadata => {
    const m = new Metadata();
    m.set("authorization", `Bearer ${SECRET}`);
    return m;
  };
  return {
    generation,
    store,
    live,
    cache,
    replayed,
    // As an operator's tool calls: the raw gRPC status (a service relaying it would turn an operator code into server_error).
    call: <T>(method: string, request: object, deadlineMs = 5000) =>
      new Promise<T>((resolve, reject) => {
        const unary = (client as unknown as { [name: string]: UnaryMethod | undefined })[method];
        if (!unary) throw new TypeError(`no method ${method}`);
        unary.call(client, request, metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res as T)));
      }),
    async stop() {
      stopped = true;
      client.close();
      await grpc.shutdown(0);
      cache.stop();
      await nats.close();
    },
  };
}

/** The events stream refuses every new event, as a full stream that discards new messages does. */
async function refuseEvents(): Promise<void> {
  const { state } = await admin.jsm.streams.info(EVENTS_STREAM.name);
  await admin.jsm.streams.update(EVENTS_STREAM.name, { max_msgs: state.messages, discard: "new" });
}

async function acceptEvents(): Promise<void> {
  await admin.jsm.streams.update(EVENTS_STREAM.name, { max_msgs: -1, discard: "old" });
}

/** A stored policy.updated event. */
interface Record {
  id: string;
  time: string;
  data: PolicyUpdated;
}

/** Every stored policy.updated event of a revision, in `nats`'s events stream (the test server's by default). */
async function recordsOf(revision: bigint | string, nats: NatsHandle = admin): Promise<Record[]> {
  const { state } = await nats.jsm.streams.info(EVENTS_STREAM.name);
  const found: Record[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const event = (await nats.jsm.streams.getMessage(EVENTS_STREAM.name, { seq }).catch(() => null))?.json<Record & { type: string }>();
    if (event?.type === "policy.updated" && event.data.revision === revision.toString()) found.push({ id: event.id, time: event.time, data: event.data });
  }
  return found;
}

/** How a call or a writer's wait ends: "ok", or the OAuth code and description it was refused with. */
const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => "ok",
    (err: unknown) => {
      if (err instanceof OAuthError) return `${err.code}: ${err.description}`;
      const refused = err as Partial<ServiceError>;
      if (refused.metadata) return `${String(refused.metadata.get("oauth-error")[0])}: ${refused.details}`;
      throw err;
    },
  );

/** When each version the bucket keeps was written, by revision: the time its record must carry. */
async function madeAt(kv: KV = bucket): Promise<Map<string, string>> {
  const made = new Map<string, string>();
  for await (const e of await kv.history()) made.set(String(e.revision), e.created.toISOString());
  return made;
}

const unrecorded = (revision: bigint | string): string =>
  `temporarily_unavailable: the change is stored at revision ${revision} but its policy.updated record is not yet; it is retried with the same event id: Get the policy before changing it again`;

beforeAll(async () => {
  server = await startNats();
  admin = await connectNats({ servers: server.url, name: "policy-service-test" });
  await ensureEventsStream(admin);
  bucket = await openBucket(admin, BUCKET, { owner: true, history: 10 });
}, 30_000);

afterAll(async () => {
  await admin?.close();
  await server?.stop();
});

describe("Put and Delete", () => {
  it("answer once the change's policy.updated record, naming its author, is stored", async () => {
    const replica = await startReplica();
    try {
      const { revision } = await replica.call<PutResponse__Output>("Put", { policy: { id: "p/recorded", text: text("B") } });
      expect((await recordsOf(revision)).map((e) => e.data)).toMatchObject([{ policy_id: "p/recorded", operation: "put", ...BREAK_GLASS }]);
      // Stamped, as a replayed record is, with when the change was made.
      expect((await recordsOf(revision)).map((e) => e.time)).toEqual([(await madeAt()).get(revision)]);
      await replica.call("Delete", { id: "p/recorded" });
      const deleted = BigInt(revision) + 1n;
      expect((await recordsOf(deleted)).map((e) => e.data)).toMatchObject([{ policy_id: "p/recorded", operation: "delete", ...BREAK_GLASS }]);
    } finally {
      await replica.stop();
    }
  });

  it("answer temporarily_unavailable by the call's deadline while the events stream refuses the record; the change stays, and its record is stored once the stream takes it", async () => {
    const replica = await startReplica();
    try {
      let revision: string | undefined;
      await refuseEvents();
      try {
        const answer = await outcome(replica.call("Put", { policy: { id: "p/unrecorded", text: text("C") } }, 1500));
        revision = /revision (\d+)/.exec(answer)?.[1];
        expect(answer).toBe(unrecorded(revision ?? "?"));
        // The change is in force: the operator checks it with Get before writing again.
        const got = await replica.call<Policy__Output>("Get", { id: "p/unrecorded" });
        expect(got).toMatchObject({ revision, author: BREAK_GLASS });
        expect(await recordsOf(revision ?? "")).toEqual([]);
      } finally {
        await acceptEvents();
      }
      const record = await waitFor(async () => (await recordsOf(revision ?? "")).at(0), { timeoutMs: 5000, message: "the record was not retried" });
      expect(record).toMatchObject({
        id: `policy.updated.${replica.generation}.${revision}`,
        data: { policy_id: "p/unrecorded", operation: "put", ...BREAK_GLASS },
      });
    } finally {
      await replica.stop();
    }
  });

  it("Put refuses a description holding control characters, line separators or bidi controls (it would forge or reorder lines of `stsctl policy list`), storing nothing", async () => {
    const replica = await startReplica();
    try {
      const forged = ['ok"\nhop/A/B/exchange rev=1 source=config', "\u001b[2K\rforged", "tab\there", "nul\u0000", "one\u2028two", "\u202egifnoc=ecruos"];
      for (const description of forged) {
        const answer = await outcome(replica.call("Put", { policy: { id: "p/described", text: text("F"), description } }));
        expect(answer, JSON.stringify(description)).toMatch(/^invalid_request: description must not hold control characters/);
      }
      expect(await bucket.get(encodeKey("p/described"))).toBeNull();
      await replica.call("Put", { policy: { id: "p/described", text: text("F"), description: "Freeze F — see ticket #42" } });
      expect(await replica.call<Policy__Output>("Get", { id: "p/described" })).toMatchObject({ description: "Freeze F — see ticket #42" });
    } finally {
      await replica.stop();
    }
  });

  it("Put refuses a new id once the set holds policy.max_policies (failed_precondition, nothing stored), still replaces a held one, and adds again after a Delete", async () => {
    // Room for exactly one more than the bucket holds now.
    const replica = await startReplica(new Map(), (held) => held + 1);
    try {
      await replica.call("Put", { policy: { id: "p/last-room", text: text("G") } });
      const full = await outcome(replica.call("Put", { policy: { id: "p/no-room", text: text("H") } }));
      expect(full).toMatch(/^failed_precondition: the policy set holds its maximum of \d+ policies \(policy\.max_policies\)/);
      expect(await bucket.get(encodeKey("p/no-room"))).toBeNull();
      // A new version of a held policy does not grow the set.
      await replica.call("Put", { policy: { id: "p/last-room", text: text("I") } });
      expect(await replica.call<Policy__Output>("Get", { id: "p/last-room" })).toMatchObject({ text: text("I") });
      await replica.call("Delete", { id: "p/last-room" });
      await replica.call("Put", { policy: { id: "p/no-room", text: text("H") } });
      await replica.call("Delete", { id: "p/no-room" });
    } finally {
      await replica.stop();
    }
  });

  it("Delete applies only to the version the replica runs: a lagging replica neither drops a newer Put nor deletes twice", async () => {
    const current = await startReplica();
    const lagging = await startReplica();
    try {
      const first = await current.call<PutResponse__Output>("Put", { policy: { id: "p/contended", text: text("D") } });
      await waitFor(() => lagging.live.get("p/contended")?.revision === BigInt(first.revision), { message: "the put did not reach the other replica" });
      // From here on the lagging replica's view stays at the first version.
      lagging.cache.stop();
      const second = await current.call<PutResponse__Output>("Put", { policy: { id: "p/contended", text: text("E"), description: "newer" } });
      const stale = `invalid_request: the policy changed since revision ${first.revision}; Get it again`;
      expect(await outcome(lagging.call("Delete", { id: "p/contended" }))).toBe(stale);
      const kept = await bucket.get(encodeKey("p/contended"));
      expect(kept && [kept.revision, parseStoredPolicy(kept.json())]).toMatchObject([Number(second.revision), { description: "newer" }]);

      await current.call("Delete", { id: "p/contended" });
      expect(await outcome(lagging.call("Delete", { id: "p/contended" }))).toBe(stale);
      const versions: Array<StoredPolicy | undefined> = [];
      for await (const e of await bucket.history({ key: encodeKey("p/contended") })) versions.push(parseStoredPolicy(e.json()));
      expect(versions.map((v) => v?.deleted === true)).toEqual([false, false, true]);
    } finally {
      await current.stop();
      await lagging.stop();
    }
  });
});

describe("Reset", () => {
  const hop = (id: string, to: string): CompiledPolicy => ({ id, text: `@id("${id}")\n${text(to)}`, description: `config hop to ${to}` });

  it("hands a policy back to the config file, answering once its policy.updated record, naming the operator and the reset, is stored", async () => {
    const declared = hop("hop/A/L/exchange", "L");
    const replica = await startReplica(new Map([[declared.id, declared]]));
    try {
      await replica.call("Put", { policy: { id: declared.id, text: text("M") } });
      const reset = await replica.call<ResetResponse__Output>("Reset", { id: declared.id });
      expect(reset.changed).toBe(true);
      expect((await recordsOf(reset.revision)).map((e) => e.data)).toMatchObject([
        { policy_id: declared.id, operation: "put", change: "reset", ...BREAK_GLASS },
      ]);
      expect(await replica.call<Policy__Output>("Get", { id: declared.id })).toMatchObject({ ...declared, revision: reset.revision, author: BREAK_GLASS });
      expect(await replica.call<ResetResponse__Output>("Reset", { id: declared.id })).toEqual({ revision: reset.revision, changed: false });
    } finally {
      await replica.stop();
    }
  });

  it("answers not_found (NOT_FOUND) for an id the config file does not declare, stored or not, and changes nothing", async () => {
    const replica = await startReplica(new Map([["hop/A/N/exchange", hop("hop/A/N/exchange", "N")]]));
    try {
      const { revision } = await replica.call<PutResponse__Output>("Put", { policy: { id: "p/operators-own", text: text("O") } });
      const bucketRevision = async (): Promise<number> => (await bucket.status()).streamInfo.state.last_seq;
      const before = await bucketRevision();
      expect(await outcome(replica.call("Reset", { id: "p/operators-own" }))).toBe("not_found: the config file declares no hop policy of that id");
      expect(await outcome(replica.call("Reset", { id: "hop/A/Z/exchange" }))).toBe("not_found: the config file declares no hop policy of that id");
      expect(await outcome(replica.call("Reset", { id: "bad id" }))).toMatch(/^invalid_request: policy id must be/);
      expect(await bucketRevision()).toBe(before);
      expect(await replica.call<Policy__Output>("Get", { id: "p/operators-own" })).toMatchObject({ revision, text: text("O") });
      expect((await replica.call<{ policies: Policy__Output[] }>("List", {})).policies.map((p) => p.id)).not.toContain("hop/A/Z/exchange");
    } finally {
      await replica.stop();
    }
  });

  it("never stores a config version that does not validate: server_error, nothing written", async () => {
    const broken = { id: "hop/A/P/exchange", text: 'permit (principal == Nobody::"A", action, resource);', description: "" };
    const replica = await startReplica(new Map([[broken.id, broken]]));
    try {
      expect(await outcome(replica.call("Reset", { id: broken.id }))).toBe(
        `server_error: the config file's version of policy ${broken.id} does not validate; nothing was stored`,
      );
      expect(await bucket.get(encodeKey(broken.id))).toBeNull();
    } finally {
      await replica.stop();
    }
  });
});

describe("a writer waiting for its change's record", () => {
  it("that gives up before the replica runs its revision leaves no waiter behind", async () => {
    const replica = await startReplica();
    try {
      const ahead = replica.live.revision() + 100n;
      expect(await outcome(replica.live.recorded(ahead, new Date(Date.now() + 400)))).toBe(unrecorded(ahead));
      expect(replica.live.waiting()).toBe(0);
    } finally {
      await replica.stop();
    }
  });
});

describe("a replica that starts", () => {
  it("announces the changes whose records every replica before it failed to store, with their authors and the set in force after each", async () => {
    const first = await startReplica();
    const recorded = await first.store.put({ id: "q1", text: text("F"), description: "" }, BREAK_GLASS);
    expect(await outcome(first.live.recorded(recorded))).toBe("ok");
    let put: bigint;
    let deleted: bigint;
    await refuseEvents();
    try {
      put = await first.store.put({ id: "q2", text: text("G"), description: "" }, alice);
      expect(await outcome(first.live.recorded(put, new Date(Date.now() + 1000)))).toBe(unrecorded(put));
      deleted = await first.store.delete("q1", bob, recorded);
      expect(await outcome(first.live.recorded(deleted, new Date(Date.now() + 1000)))).toBe(unrecorded(deleted));
      // It dies with both records in its retry loop.
      await first.stop();
    } finally {
      await acceptEvents();
    }

    const others = first.live
      .list()
      .map((p) => p.id)
      .filter((id) => !id.startsWith("q"));
    const next = await startReplica();
    try {
      // Its watch replays only the latest version of each key: without the history, alice's change would go unrecorded.
      const alices = await waitFor(async () => (await recordsOf(put)).at(0), { timeoutMs: 5000, message: "alice's change was never recorded" });
      const made = await madeAt();
      expect(alices).toEqual({
        id: `policy.updated.${next.generation}.${put}`,
        time: made.get(put.toString()),
        data: { revision: put.toString(), policy_ids: [...others, "q1", "q2"].sort(), policy_id: "q2", operation: "put", text_sha256: SHA256, ...alice },
      });
      const bobs = await waitFor(async () => (await recordsOf(deleted)).at(0), { timeoutMs: 5000, message: "bob's deletion was never recorded" });
      expect(bobs).toEqual({
        id: `policy.updated.${next.generation}.${deleted}`,
        time: made.get(deleted.toString()),
        data: { revision: deleted.toString(), policy_ids: [...others, "q2"].sort(), policy_id: "q1", operation: "delete", ...bob },
      });
      // A record already stored is stored once: the replay of q1's put is a duplicate.
      await next.replayed;
      expect(await recordsOf(recorded)).toHaveLength(1);
    } finally {
      await next.stop();
    }
  });

  it("announces an older change whose record is missing while a newer one's is stored (records are retried apart), with its author and when it was made", async () => {
    const first = await startReplica();
    // Only carol's record is larger than the stream takes: it fails while later ones are stored, as records retried on
    // their own backoffs can be.
    const carol: CallerIdentity = { credential: "access_token", sub: "carol", client_id: "ops-carol", jti: "j-carol-".padEnd(2048, "x") };
    let older: bigint;
    let newer: bigint;
    await admin.jsm.streams.update(EVENTS_STREAM.name, { max_msg_size: 1024 });
    try {
      older = await first.store.put({ id: "s1", text: text("J"), description: "" }, carol);
      expect(await outcome(first.live.recorded(older, new Date(Date.now() + 1000)))).toBe(unrecorded(older));
      newer = await first.store.put({ id: "s2", text: text("K"), description: "" }, alice);
      expect(await outcome(first.live.recorded(newer))).toBe("ok");
      // Every replica dies with carol's record in its retry loop; alice's, the newer, is the last policy.updated stored.
      await first.stop();
    } finally {
      await admin.jsm.streams.update(EVENTS_STREAM.name, { max_msg_size: -1 });
    }
    expect(await recordsOf(older)).toEqual([]);
    const restarted = Date.now();
    const next = await startReplica();
    try {
      const record = await waitFor(async () => (await recordsOf(older)).at(0), { timeoutMs: 5000, message: "carol's change was never recorded" });
      expect(record).toMatchObject({
        id: `policy.updated.${next.generation}.${older}`,
        data: { revision: older.toString(), policy_id: "s1", operation: "put", ...carol },
      });
      // When carol made the change, not when the replay stored its record.
      expect(record.time).toBe((await madeAt()).get(older.toString()));
      expect(Date.parse(record.time)).toBeLessThan(restarted);
      expect(await recordsOf(newer)).toHaveLength(1);
    } finally {
      await next.stop();
    }
  });

  it("gives a bucket made again another generation, so its revisions' records are not read as the old bucket's", async () => {
    const nats = await connectNats({ servers: server.url, name: "policy-generation-test" });
    try {
      const made = await openBucket(nats, "test_generation", { owner: true, history: 10 });
      const first = await bucketGeneration(made);
      expect(first).toMatch(/^\d{20,}$/);
      // The same bucket reads the same generation on every replica and every start.
      expect(await bucketGeneration(await openBucket(nats, "test_generation", { owner: true, history: 10 }))).toBe(first);
      await made.destroy();
      const again = await openBucket(nats, "test_generation", { owner: true, history: 10 });
      expect(await bucketGeneration(again)).not.toBe(first);
      await again.destroy();
    } finally {
      await nats.close();
    }
  });

  it("announces every operator's change the bucket keeps, never a version naming nobody", async () => {
    const other = await startNats();
    const nats = await connectNats({ servers: other.url, name: "policy-history-test" });
    try {
      await ensureEventsStream(nats);
      const fresh = await openBucket(nats, "test_fresh_policies", { owner: true, history: 10 });
      const store = new PolicyStore(fresh, () => 1_700_000_000);
      await store.seed([{ id: "seeded", text: text("H"), description: "" }], () => undefined);
      const put = await store.put({ id: "r1", text: text("I"), description: "" }, alice);
      const deleted = await store.delete("r1", bob, put);
      const events = new EventPublisher(nats, { source: "sts/policy", logger });
      const generation = await bucketGeneration(fresh);
      expect(await announceHistory(fresh, events, logger, { generation })).toBe(2);
      const made = await madeAt(fresh);
      expect(await recordsOf(1n, nats)).toEqual([]);
      expect(await recordsOf(put, nats)).toEqual([
        {
          id: `policy.updated.${generation}.${put}`,
          time: made.get(put.toString()),
          data: { revision: put.toString(), policy_ids: ["r1", "seeded"], policy_id: "r1", operation: "put", text_sha256: SHA256, ...alice },
        },
      ]);
      expect(await recordsOf(deleted, nats)).toEqual([
        {
          id: `policy.updated.${generation}.${deleted}`,
          time: made.get(deleted.toString()),
          data: { revision: deleted.toString(), policy_ids: ["seeded"], policy_id: "r1", operation: "delete", ...bob },
        },
      ]);
    } finally {
      await nats.close();
      await other.stop();
    }
  });
});
