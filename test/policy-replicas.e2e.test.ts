/** Every policy replica hot-reloads: a policy written through one decides on the other, and policy.updated is announced. */
import { Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENTS_STREAM, connectNats } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import type { Decision__Output } from "@sts/proto";
import { waitFor } from "@sts/testkit";
import { startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { call, chainConfig, clients } from "./chain.js";

let stack: Stack;
let first: ReturnType<typeof clients>;
let second: ReturnType<typeof clients>;
let nats: NatsHandle;

beforeAll(async () => {
  stack = await startStack(chainConfig, { services: ["issuer", "policy"] });
  const replica = await stack.startReplica("policy");
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
    const admin = new Metadata();
    admin.set("authorization", `Bearer ${stack.secrets.policyAdmin}`);
    const put = await call<{ revision: string }>(
      first.policy,
      "Put",
      { policy: { id: "freeze", text: 'forbid (principal, action, resource == Audience::"svc-b");' } },
      admin,
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
    expect(announced).toMatchObject({ id: `policy.updated.${put.value.revision}`, type: "policy.updated" });
    expect(announced.data.policy_ids).toContain("freeze");
  });
});
