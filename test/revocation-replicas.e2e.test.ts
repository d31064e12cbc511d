/**
 * Revocation reaches every replica: two exchangers, a token revoked through the issuer is refused by both; and an
 * exchanger cut off from NATS (so from new revocations) stops exchanging once its state is older than allowed, even
 * though the issuer it mints through is still connected; and a revocation whose event JetStream refused is recorded
 * by the client's retry, once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_TYPES } from "@sts/nats";
import { waitFor } from "@sts/testkit";
import { basicAuth, claimsOf, natsRelay, postForm, startStack, storedEvents, whileEventsRefused } from "./harness.js";
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

describe("a revocation whose event JetStream refused", () => {
  it("answers temporarily_unavailable with the token revoked, and the client's retry stores its one token.revoked", async () => {
    const t1 = await chainStartToken(stack.gatewayUrl);
    const jti = claimsOf(t1).jti;
    const revoke = (): Promise<{ status: number; body: Record<string, unknown> }> =>
      postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token: t1 }, { authorization: basicAuth("end-user-app", SECRET) });
    const refused = await whileEventsRefused(stack.nats.url, revoke);
    expect([refused.value.status, refused.value.body.error]).toEqual([503, "temporarily_unavailable"]);
    // The safe side: revoked already (the record is written first).
    const introspected = await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token: t1 }, { authorization: basicAuth("end-user-app", SECRET) });
    expect(introspected.body.active).toBe(false);
    // Told to retry, the client does: the revocation is recorded now, and a further retry adds nothing.
    expect((await revoke()).status).toBe(200);
    expect((await revoke()).status).toBe(200);
    const recorded = (await storedEvents(stack.nats.url)).filter((e) => e.type === EVENT_TYPES.TOKEN_REVOKED && e.data.jti === jti);
    expect(recorded.map((e) => [e.data.client_id, e.data.revoked_by])).toEqual([["end-user-app", "end-user-app"]]);
  }, 60_000);
});
