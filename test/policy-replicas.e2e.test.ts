/**
 * Every policy replica hot-reloads: a policy written through one decides on the other, and policy.updated is
 * announced. A change is answered only once its record is stored, and a record lost with every replica is
 * announced by the next one to start, even when a newer change's record was stored, with the time the change
 * was made.
 */
import { Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callUnary } from "@sts/grpc";
import { BUCKETS, EVENTS_STREAM, connectNats, encodeKey } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import type { Decision__Output } from "@sts/proto";
import { waitFor } from "@sts/testkit";
import { startStack, storedEvents } from "./harness.js";
import type { Stack, StoredEvent } from "./harness.js";
import { call, chainConfig, clients } from "./chain.js";

let stack: Stack;
let first: ReturnType<typeof clients>;
let second: ReturnType<typeof clients>;
let nats: NatsHandle;
let replica: Awaited<ReturnType<Stack["startReplica"]>>;

beforeAll(async () => {
  stack = await startStack(chainConfig, { services: ["issuer", "policy"] });
  replica = await stack.startReplica("policy");
  first = clients({ ...stack.address });
  second = clients({ ...stack.address, policy: replica.address });
  nats = await connectNats({ servers: stack.nats.url, name: "policy-replicas" });
}, 60_000);

afterAll(async () => {
  first?.close();
  second?.close();
  await nats?.close();
  await stack?.stop();
});

const admin = (): Metadata => {
  const m = new Metadata();
  m.set("authorization", `Bearer ${stack.secrets.policyAdmin}`);
  return m;
};

/** The policy.updated event of one revision stored in the events stream, if any. */
const recordOf = async (revision: string): Promise<StoredEvent | undefined> =>
  (await storedEvents(stack.nats.url)).find((e) => new RegExp(`^policy\\.updated\\.\\d{20,}\\.${revision}$`).test((JSON.parse(e.raw) as { id: string }).id));

const question = {
  client_id: "svc-a",
  audience: "svc-b",
  requested_scopes: ["b"],
  subject: { sub: "u", client_id: "app", iss: "x", scopes: ["b"], audience: ["svc-a"] },
  depth: 1,
  actors: [],
  caller_in_audience: true,
};

describe("policy replicas", () => {
  it("apply a change written through the other replica, and announce it", async () => {
    const decide = async (c: ReturnType<typeof clients>): Promise<Decision__Output> => {
      const r = await call<Decision__Output>(c.policy, "Decide", question);
      if (!r.ok) throw new Error(r.failure.description);
      return r.value;
    };
    expect((await decide(second)).allow).toBe(true);
    const put = await call<{ revision: string }>(
      first.policy,
      "Put",
      { policy: { id: "freeze", text: 'forbid (principal, action, resource == Audience::"svc-b");' } },
      admin(),
    );
    if (!put.ok) throw new Error(put.failure.description);
    const denied = await waitFor(async () => {
      const d = await decide(second);
      return d.allow ? undefined : d;
    });
    expect(denied.policy_ids).toEqual(["freeze"]);
    expect(BigInt(denied.policy_revision)).toBeGreaterThanOrEqual(BigInt(put.value.revision));
    // The announcement of exactly this write (its revision, with the new policy in force).
    const announced = await waitFor(
      async () => {
        const m = await nats.jsm.streams.getMessage(EVENTS_STREAM.name, { last_by_subj: "sts.events.policy.updated" }).catch(() => null);
        const event = m ? (JSON.parse(m.string()) as { id: string; type: string; data: { revision: string; policy_ids: string[] } }) : undefined;
        return event?.data.revision === put.value.revision ? event : undefined;
      },
      { message: `policy.updated for revision ${put.value.revision} not announced` },
    );
    expect(announced).toMatchObject({ id: expect.stringMatching(new RegExp(`^policy\\.updated\\.\\d{20,}\\.${put.value.revision}$`)), type: "policy.updated" });
    expect(announced.data.policy_ids).toContain("freeze");
  });
});

describe("a policy change whose record the events stream refused", () => {
  it("is answered temporarily_unavailable, and its record, with the author, is stored by the next replica to start after every replica died", async () => {
    // A full stream that discards new messages refuses every event, as one at its limits does.
    const { state } = await nats.jsm.streams.info(EVENTS_STREAM.name);
    await nats.jsm.streams.update(EVENTS_STREAM.name, { max_msgs: state.messages, discard: "new" });
    const revisions: string[] = [];
    try {
      for (const id of ["outage/first", "outage/second"]) {
        const request = { policy: { id, text: `forbid (principal == Client::"${id}", action, resource);` } };
        const { code, description } = await callUnary(first.policy, "Put", request, { deadlineMs: 2000, metadata: admin() }).then(
          () => ({ code: "ok", description: "" }),
          (err: { code: string; description: string }) => err,
        );
        expect(code).toBe("temporarily_unavailable");
        expect(description).toMatch(/^the change is stored at revision \d+ but its policy\.updated record is not yet; .*Get the policy/);
        revisions.push(/revision (\d+)/.exec(description)?.[1] ?? "");
      }
      // Every replica dies with the records in its retry loop.
      await stack.processes.policy?.kill();
      await replica.handle.kill();
    } finally {
      await nats.jsm.streams.update(EVENTS_STREAM.name, { max_msgs: -1, discard: "old" });
    }
    await stack.start("policy");
    // The restarted replica's watch sees only the latest version of each key; the first change's record comes from the history.
    for (const [i, revision] of revisions.entries()) {
      const record = await waitFor(() => recordOf(revision), { timeoutMs: 10_000, message: `no policy.updated for revision ${revision}` });
      expect(record.data).toMatchObject({
        revision,
        policy_id: i === 0 ? "outage/first" : "outage/second",
        operation: "put",
        credential: "break_glass",
        sub: "break-glass",
      });
    }
  }, 60_000);
});

describe("a policy change whose record was lost while a newer change's record was stored", () => {
  it("is recorded, with its author and the time it was made, by the next replica to start after every replica died", async () => {
    const put = async (id: string): Promise<{ code: string; description: string }> =>
      callUnary(
        first.policy,
        "Put",
        { policy: { id, text: `forbid (principal == Client::"${id.slice(0, 20)}", action, resource);` } },
        { deadlineMs: 2000, metadata: admin() },
      ).then(
        () => ({ code: "ok", description: "" }),
        (err: { code: string; description: string }) => err,
      );
    // Ids of the longest length: the put of `lost` lists it among the policies in force, its deletion does not.
    const sized = `out-of-order/sized-`.padEnd(200, "s");
    const lost = `out-of-order/lost-`.padEnd(200, "l");
    expect(await put(sized)).toEqual({ code: "ok", description: "" });
    const sizedRecord = await waitFor(async () => {
      const m = await nats.jsm.streams.getMessage(EVENTS_STREAM.name, { last_by_subj: "sts.events.policy.updated" });
      return m?.json<{ data: { policy_id?: string } }>().data.policy_id === sized ? m : undefined;
    });
    // A stream that takes no message as large as the put of `lost`'s record refuses that one only: records are
    // retried on their own backoffs, and a newer one may be stored while an older one still fails.
    // 150 bytes over that record's data: room for its headers (its id, a trace context) and for "delete" over
    // "put", less than the 200-character id the put of `lost` adds.
    const limit = sizedRecord.data.length + 150;
    await nats.jsm.streams.update(EVENTS_STREAM.name, { max_msg_size: limit });
    let revision: string;
    try {
      const refused = await put(lost);
      expect(refused.code).toBe("temporarily_unavailable");
      revision = /revision (\d+)/.exec(refused.description)?.[1] ?? "";
      const deleted = await call(first.policy, "Delete", { id: lost }, admin());
      expect(deleted.ok).toBe(true);
      // Every replica dies with the older record in its retry loop.
      await stack.processes.policy?.kill();
      await replica.handle.kill();
    } finally {
      await nats.jsm.streams.update(EVENTS_STREAM.name, { max_msg_size: -1 });
    }
    expect(await recordOf(revision)).toBeUndefined();
    const restarted = Date.now();
    await stack.start("policy");
    const record = await waitFor(() => recordOf(revision), { timeoutMs: 10_000, message: `no policy.updated for revision ${revision}` });
    expect(record.data).toMatchObject({ revision, policy_id: lost, operation: "put", credential: "break_glass", sub: "break-glass" });
    const kv = await nats.kvm.open(BUCKETS.policies);
    const made = (await kv.get(encodeKey(lost), { revision: Number(revision) }))?.created.toISOString();
    const { time } = JSON.parse(record.raw) as { time: string };
    expect(time).toBe(made);
    expect(Date.parse(time)).toBeLessThan(restarted);
  }, 60_000);
});
