/**
 * Internal failure fails closed: no token without a durable event, no
 * exchange without a policy decision. Faults are real: nats-server and the
 * policy service are killed (SIGKILL) and restarted.
 */
import { Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { grpcHealthy, waitFor } from "@sts/testkit";
import { basicAuth, claimsOf, postForm, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, chainConfig, clients, exchange, exchangeRequest } from "./chain.js";

let stack: Stack;
let grpc: ReturnType<typeof clients>;

beforeAll(async () => {
  // Introspection may answer from cached revocations for one second without NATS, then must fail closed.
  stack = await startStack({ ...chainConfig, tokens: { ...chainConfig.tokens, revocation_max_staleness: 1 } });
  grpc = clients(stack.address);
}, 90_000);

// Each test starts from a stack that has recovered from the faults of the tests before it (the issuer's readiness
// says nothing of when the exchanger is back on NATS).
beforeEach(() => stack.ready(), 30_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
});

const token = (scope = "a b c") =>
  postForm(`${stack.gatewayUrl}/oauth2/token`, { grant_type: "client_credentials", scope }, { authorization: basicAuth("end-user-app", SECRET) });

/** jtis of every token.issued / token.exchanged event in the stream. */
async function recordedJtis(url: string): Promise<string[]> {
  return (await storedEvents(url)).filter((e) => (e.type === "token.issued" || e.type === "token.exchanged") && e.data.jti).map((e) => e.data.jti as string);
}

describe("NATS down", () => {
  it("reports not ready, refuses to issue with 503 + Retry-After, and recovers; every token handed out has its event", async () => {
    const received: string[] = [];
    const first = await token();
    expect(first.status).toBe(200);
    received.push(claimsOf(first.body.access_token as string).jti as string);

    await stack.nats.kill("SIGKILL");
    await waitFor(async () => !(await grpcHealthy(stack.address.issuer)), { timeoutMs: 15_000, message: "issuer still SERVING with NATS down" });
    const down = await token();
    expect(down.status).toBe(503);
    expect(down.body.error).toBe("temporarily_unavailable");
    expect(down.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(down.body.access_token).toBeUndefined();
    // Past the bounded staleness, introspection cannot vouch that the token is not revoked: 503, not "active".
    const introspect = () =>
      postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token: first.body.access_token as string }, { authorization: basicAuth("end-user-app", SECRET) });
    await new Promise((r) => setTimeout(r, 1_100));
    const stale = await introspect();
    expect([stale.status, stale.body.error, stale.body.active]).toEqual([503, "temporarily_unavailable", undefined]);

    await stack.nats.restart();
    await waitFor(async () => grpcHealthy(stack.address.issuer), { timeoutMs: 20_000, message: "issuer not SERVING after NATS came back" });
    const again = await waitFor(
      async () => {
        const r = await token();
        return r.status === 200 ? r : undefined;
      },
      { timeoutMs: 20_000 },
    );
    received.push(claimsOf(again.body.access_token as string).jti as string);
    expect((await introspect()).body).toMatchObject({ active: true });

    const recorded = await recordedJtis(stack.nats.url);
    for (const jti of received) expect(recorded).toContain(jti);
    expect(new Set(recorded).size).toBe(recorded.length);
  }, 90_000);
});

describe("policy service down", () => {
  it("fails exchanges closed when no cached decision applies, and recovers", async () => {
    const t1 = (await token()).body.access_token as string;
    const r1 = await exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "b" });
    expect(r1.ok).toBe(true);

    const exchangedFrom = async () =>
      (await storedEvents(stack.nats.url)).filter((e) => e.type === "token.exchanged" && e.data.parent_jti === claimsOf(t1).jti).length;
    const minted = await exchangedFrom();
    await stack.processes.policy?.kill("SIGKILL");
    // A question the exchanger has not cached: it must not answer without a decision (SECURITY.md, fail closed).
    const r2 = await exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "c" });
    expect(r2.ok ? "issued" : [r2.failure.grpcCode, r2.failure.error]).toEqual([status.UNAVAILABLE, "temporarily_unavailable"]);
    expect(await exchangedFrom()).toBe(minted);

    await stack.start("policy");
    const r3 = await waitFor(
      async () => {
        const r = await exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "c" });
        return r.ok ? r : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(claimsOf(r3.value.access_token).scope).toBe("c");
  }, 60_000);
});

describe("caller gone before the mint", () => {
  it("mints and records nothing for an exchange whose caller's deadline passed while the policy service was stalled", async () => {
    // A subject scope set no other test here uses, so no decision for it is cached and the exchange must wait for the policy service.
    const subject = (await token("a b")).body.access_token as string;
    const parent = claimsOf(subject).jti as string;
    const exchangedFrom = async () => (await storedEvents(stack.nats.url)).filter((e) => e.type === "token.exchanged" && e.data.parent_jti === parent);
    const policyPid = stack.processes.policy?.pid ?? -1;
    expect(policyPid).toBeGreaterThan(0);

    process.kill(policyPid, "SIGSTOP");
    let answer: Promise<{ code: number | undefined }>;
    try {
      // The caller gives up after 400 ms (as the gateway does after its own deadline); the decision comes after that.
      answer = new Promise((resolve) => {
        grpc.exchange.Exchange(exchangeRequest("svc-a", subject, { audience: ["svc-b"], scope: "b" }), new Metadata(), { deadline: Date.now() + 400 }, (err) =>
          resolve({ code: err?.code }),
        );
      });
      expect((await answer).code).toBe(status.DEADLINE_EXCEEDED);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      process.kill(policyPid, "SIGCONT");
    }
    // The stalled decision now reaches the exchanger. The same request from a caller still waiting is minted (and
    // recorded) after it, so the stream has seen everything the abandoned call could have produced by then.
    const live = await exchange(grpc.exchange, "svc-a", subject, { audience: ["svc-b"], scope: "b" });
    expect(live.ok).toBe(true);
    await waitFor(async () => (await exchangedFrom()).length >= 1, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 500));
    const recorded = await exchangedFrom();
    expect(recorded.map((e) => e.data.jti)).toEqual([live.ok ? claimsOf(live.value.access_token).jti : "none"]);
    // The abandoned call ended as its caller did: its Decide was cut at the caller's deadline (deadlines travel down the
    // chain), or, where the decision came first, the exchanger stopped before minting.
    expect(stack.processes.exchanger?.output()).toMatch(/the call this one was made for ended|before the token was minted/);
  }, 60_000);
});
