/**
 * A policy replica decides only from a copy of the policies it knows to be current, and the exchangers compare
 * decisions across a policies bucket made anew. Real nats-server, issuer, gateway, policy and exchanger processes:
 * a replica is cut off from NATS through a relay, the policy service is killed and started again, the bucket's stream
 * deleted.
 * - A replica cut off from NATS never hears of an operator's forbid made through another replica: past
 *   policy.max_staleness it refuses (temporarily_unavailable, NOT_SERVING) rather than go on allowing, and an
 *   exchanger asking it mints nothing.
 * - A bucket made anew numbers its revisions from 1 again: an exchanger that saw the old bucket's higher revisions
 *   takes the new bucket's decisions (a later generation) without a restart, and a replica that ran across the reset
 *   answers in the new generation.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUCKETS, connectNats } from "@sts/nats";
import type { Decision__Output } from "@sts/proto";
import { grpcHealthy, waitFor } from "@sts/testkit";
import { claimsOf, natsRelay, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { A_TO_B_QUESTION, bearer, call, chainConfig, chainStartToken, clients, decisionOf, exchange, ok } from "./chain.js";

let stack: Stack;
let grpc: ReturnType<typeof clients>;

beforeAll(async () => {
  // A short bound, so that the cut-off replica refuses within the test.
  stack = await startStack({ ...chainConfig, policy: { ...chainConfig.policy, max_staleness: 2 } }, { services: ["issuer", "policy", "exchanger", "gateway"] });
  grpc = clients(stack.address);
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
});

describe("a policy replica cut off from NATS", () => {
  it("refuses to decide once its copy is older than policy.max_staleness, rather than allow what another replica's forbid denies", async () => {
    const relay = await natsRelay(stack.nats.url);
    const isolated = await stack.startReplica("policy", { NATS_URL: relay.url });
    const cutOff = clients({ ...stack.address, policy: isolated.address });
    let exchanger: Awaited<ReturnType<Stack["startReplica"]>> | undefined;
    let viaCutOff: ReturnType<typeof clients> | undefined;
    try {
      expect(await decisionOf(cutOff.policy)).toBe("allow");
      relay.cut();
      ok(
        await call(
          grpc.policy,
          "Put",
          { policy: { id: "freeze", text: 'forbid (principal, action, resource == Audience::"svc-b");' } },
          bearer(stack.secrets.policyAdmin),
        ),
      );
      await waitFor(async () => (await decisionOf(grpc.policy)) === "deny", { timeoutMs: 10_000, message: "the connected replica does not deny" });
      // The forbid never reaches the cut-off replica: past the 2 s bound it must stop answering from what it holds.
      await waitFor(async () => (await decisionOf(cutOff.policy)) === "refused: temporarily_unavailable", {
        timeoutMs: 15_000,
        intervalMs: 200,
        message: "the cut-off replica kept deciding from its old copy",
      });
      expect(await grpcHealthy(isolated.address)).toBe(false);
      // An exchanger that started after the change has heard of no newer revision: only the replica's refusal stops it.
      exchanger = await stack.startReplica("exchanger", { STS_POLICY_PORT: isolated.address.split(":")[1] ?? "" });
      viaCutOff = clients({ ...stack.address, exchanger: exchanger.address });
      const r = await exchange(viaCutOff.exchange, "svc-a", await chainStartToken(stack.gatewayUrl), { audience: ["svc-b"], scope: "b" });
      expect(r.ok ? "minted" : r.failure.error).toBe("temporarily_unavailable");
    } finally {
      viaCutOff?.close();
      cutOff.close();
      relay.close();
      await exchanger?.handle.stop();
      await isolated.handle.stop();
      ok(await call(grpc.policy, "Delete", { id: "freeze" }, bearer(stack.secrets.policyAdmin)));
    }
  }, 90_000);
});

describe("a policies bucket made anew", () => {
  it("is decided from again without restarting the exchanger, and followed by a replica that ran across it", async () => {
    // The old bucket's revision well past what seeding a new one reaches (its hops' policies).
    for (const n of [1, 2, 3, 4]) {
      ok(
        await call(
          grpc.policy,
          "Put",
          { policy: { id: `padding/${n}`, text: `forbid (principal == Client::"nobody-${n}", action, resource);` } },
          bearer(stack.secrets.policyAdmin),
        ),
      );
    }
    const token = await chainStartToken(stack.gatewayUrl);
    await waitFor(async () => (await exchange(grpc.exchange, "svc-a", token, { audience: ["svc-b"], scope: "b" })).ok, {
      timeoutMs: 10_000,
      message: "no exchange before the reset",
    });
    const before = ok(await call<Decision__Output>(grpc.policy, "Decide", A_TO_B_QUESTION));
    const across = await stack.startReplica("policy");
    const acrossClients = clients({ ...stack.address, policy: across.address });
    const nats = await connectNats({ servers: stack.nats.url, name: "policy-staleness" });
    try {
      // The operator's reset: the bucket's stream deleted, and made again (and seeded) by the policy service's next start.
      await stack.processes.policy?.kill();
      await nats.jsm.streams.delete(`KV_${BUCKETS.policies}`);
      await stack.start("policy");
      const after = ok(await call<Decision__Output>(grpc.policy, "Decide", A_TO_B_QUESTION));
      expect(after.policy_generation).not.toBe(before.policy_generation);
      expect(BigInt(after.policy_revision)).toBeLessThan(BigInt(before.policy_revision));
      // A question the exchanger has not cached: it must take the new bucket's decision, revision lower or not.
      const exchanged = await waitFor(
        async () => {
          const r = await exchange(grpc.exchange, "svc-a", token, { audience: ["svc-b"], scope: "c" });
          return r.ok ? r.value : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 250, message: "the exchanger kept refusing the new bucket's decisions" },
      );
      expect(claimsOf(exchanged.access_token).scope).toBe("c");
      // The replica that ran across the reset reads the new bucket and says so.
      await waitFor(
        async () => {
          const r = await call<Decision__Output>(acrossClients.policy, "Decide", A_TO_B_QUESTION);
          return r.ok && r.value.policy_generation === after.policy_generation && r.value.policy_revision === after.policy_revision;
        },
        { timeoutMs: 20_000, intervalMs: 250, message: "the replica that ran across the reset does not answer in the new generation" },
      );
    } finally {
      acrossClients.close();
      await nats.close();
      await across.handle.stop();
    }
  }, 90_000);
});
