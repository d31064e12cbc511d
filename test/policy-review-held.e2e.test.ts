/**
 * A policies bucket that does not make a policy set. README "Policies": a replica keeps the set it has rather than
 * drop a record that could be a forbid, and a replica whose copy is behind the bucket for longer than
 * policy.max_staleness answers temporarily_unavailable and reports NOT_SERVING. A kept set is behind the bucket: the
 * record it could not take (and every operator's change since) is in force nowhere, so past the bound it is refused
 * too. Real nats-server, issuer and policy processes; records written straight into the bucket, as a newer release
 * or a script would.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KV } from "@nats-io/kv";
import { BUCKETS, connectNats, encodeKey, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { grpcHealthy, waitFor } from "@sts/testkit";
import { startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { bearer, call, chainConfig, clients, decisionOf, ok } from "./chain.js";

let stack: Stack;
let grpc: ReturnType<typeof clients>;
let nats: NatsHandle;
let bucket: KV;

beforeAll(async () => {
  // A short bound, so that the replica refuses within the test.
  stack = await startStack({ ...chainConfig, policy: { ...chainConfig.policy, max_staleness: 2 } }, { services: ["issuer", "policy"] });
  grpc = clients(stack.address);
  nats = await connectNats({ servers: stack.nats.url, name: "policy-review-held" });
  bucket = await openBucket(nats, BUCKETS.policies, { bind: true });
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await nats?.close();
  await stack?.stop();
});

const refusedPastTheBound = (what: string): Promise<unknown> =>
  waitFor(async () => (await decisionOf(grpc.policy)) === "refused: temporarily_unavailable", { timeoutMs: 20_000, intervalMs: 200, message: what });

describe("a policies bucket that does not make a policy set", () => {
  it("a record this release cannot read (a newer release's forbid) is not left out: past policy.max_staleness the replica refuses, until the policy is Put", async () => {
    expect(await decisionOf(grpc.policy)).toBe("allow");
    const freeze = 'forbid (principal == Client::"svc-a", action, resource == Audience::"svc-b");';
    // Not a stored policy of this release (no `text`): left out, the forbid it carries would simply not exist.
    await bucket.put(encodeKey("freeze"), JSON.stringify({ id: "freeze", statements: [freeze], source: "api", updated_at: 0 }));
    await refusedPastTheBound("the replica kept allowing from a set that lacks the record it could not read");
    // Readiness is looked at again every second: NOT_SERVING follows.
    await waitFor(async () => !(await grpcHealthy(stack.address.policy)), { timeoutMs: 10_000, message: "the replica still reports SERVING" });
    // Put in this release's shape, the policy is in force: decided from again at once, and denied.
    ok(await call(grpc.policy, "Put", { policy: { id: "freeze", text: freeze, description: "" } }, bearer(stack.secrets.policyAdmin)));
    expect(await decisionOf(grpc.policy)).toBe("deny");
    await waitFor(() => grpcHealthy(stack.address.policy), { timeoutMs: 10_000, message: "the replica does not report SERVING again" });
    ok(await call(grpc.policy, "Delete", { id: "freeze" }, bearer(stack.secrets.policyAdmin)));
    expect(await decisionOf(grpc.policy)).toBe("allow");
  }, 60_000);

  it("an operator's forbid stored while an outdated policy keeps the set from being built is never bypassed past policy.max_staleness", async () => {
    // Valid when stored by an earlier release; refused by this one (an attribute the schema does not have).
    const legacy = { id: "legacy", text: "permit (principal, action, resource) when { context.legacy_flag };", description: "", source: "api", updated_at: 0 };
    await bucket.put(encodeKey(legacy.id), JSON.stringify(legacy));
    const put = await call(
      grpc.policy,
      "Put",
      { policy: { id: "freeze-b", text: 'forbid (principal, action, resource == Audience::"svc-b");' } },
      bearer(stack.secrets.policyAdmin),
    );
    // Stored, but in force nowhere: the answer says so rather than that a record is on its way.
    expect(put.ok ? "answered" : [put.failure.error, put.failure.description]).toEqual([
      "temporarily_unavailable",
      expect.stringMatching(/in force nowhere: the stored policies do not make a policy set/),
    ]);
    await refusedPastTheBound("the replica kept allowing though an operator's forbid was stored");
    // Readiness is looked at again every second: NOT_SERVING follows.
    await waitFor(async () => !(await grpcHealthy(stack.address.policy)), { timeoutMs: 10_000, message: "the replica still reports SERVING" });
    // The documented remedy: the outdated policy deleted, the bucket makes a set again, with the forbid in force.
    ok(await call(grpc.policy, "Delete", { id: "legacy" }, bearer(stack.secrets.policyAdmin)));
    expect(await decisionOf(grpc.policy)).toBe("deny");
    ok(await call(grpc.policy, "Delete", { id: "freeze-b" }, bearer(stack.secrets.policyAdmin)));
    expect(await decisionOf(grpc.policy)).toBe("allow");
  }, 60_000);
});
