/**
 * Revocation reaches every replica: two exchangers, a token revoked through the issuer is refused by both; and an
 * exchanger cut off from NATS (so from new revocations) stops exchanging once its state is older than allowed, even
 * though the issuer it mints through is still connected.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@sts/testkit";
import { basicAuth, natsRelay, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, chainConfig, chainStartToken, clients, exchange } from "./chain.js";

let stack: Stack;
let first: ReturnType<typeof clients>;
let second: ReturnType<typeof clients>;

beforeAll(async () => {
  stack = await startStack({ ...chainConfig, tokens: { revocation_max_staleness: 1 } }, { services: ["issuer", "policy", "exchanger", "gateway"] });
  const replica = await stack.startReplica("exchanger");
  first = clients(stack.address);
  second = clients({ ...stack.address, exchanger: replica.address });
}, 90_000);

afterAll(async () => {
  first?.close();
  second?.close();
  await stack?.stop();
});

describe("revocation across replicas", () => {
  it("is seen by another exchanger replica", async () => {
    const t1 = await chainStartToken(stack.gatewayUrl);
    for (const c of [first, second]) expect((await exchange(c.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "b" })).ok).toBe(true);
    const revoked = await postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token: t1 }, { authorization: basicAuth("end-user-app", SECRET) });
    expect(revoked.status).toBe(200);
    for (const c of [second, first]) {
      await waitFor(
        async () => {
          const r = await exchange(c.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "b" });
          return !r.ok && r.failure.error === "invalid_request";
        },
        { timeoutMs: 10_000, intervalMs: 20, message: "revocation not seen by the exchanger replica" },
      );
    }
  });
});

describe("an exchanger cut off from NATS", () => {
  it("fails closed with temporarily_unavailable past the bounded staleness while the issuer still mints", async () => {
    const relay = await natsRelay(stack.nats.url);
    const isolated = await stack.startReplica("exchanger", { NATS_URL: relay.url });
    const c = clients({ ...stack.address, exchanger: isolated.address });
    try {
      const t1 = await chainStartToken(stack.gatewayUrl);
      expect((await exchange(c.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "b" })).ok).toBe(true);
      relay.cut();
      // A revocation made now would not reach it: after the 1 s bound it must stop answering from what it has.
      await waitFor(
        async () => {
          const r = await exchange(c.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "b" });
          return !r.ok && r.failure.error === "temporarily_unavailable";
        },
        { timeoutMs: 10_000, intervalMs: 100, message: "the cut-off exchanger kept exchanging" },
      );
      // The connected replica still exchanges: the refusal was about the isolated one's state, not the token.
      expect((await exchange(first.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "b" })).ok).toBe(true);
    } finally {
      c.close();
      relay.close();
      await isolated.handle.stop();
    }
  });
});
