/**
 * A caller's deadline travels down the chain: the exchanger's calls to the policy service (Decide) and to the issuer
 * (MintBatch) made for an Exchange end by that Exchange's deadline, not by exchange.call_timeout_ms, so the hops below
 * do not go on working for a caller that has left. Faults are real: the policy service or the issuer is stopped
 * (SIGSTOP) while the call is under way. call_timeout_ms is set to its maximum, 60 s: a call that ends within the 15 s
 * waited for here ended by the caller's deadline.
 */
import { Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { waitFor } from "@sts/testkit";
import { basicAuth, claimsOf, postForm, storedEvents } from "./harness.js";
import type { ServiceName } from "./harness.js";
import { SECRET, chainConfig, exchange, exchangeRequest, stackForFile } from "./chain.js";

const held = stackForFile({ ...chainConfig, exchange: { ...chainConfig.exchange, call_timeout_ms: 60_000 } });

/** What the exchanger logs when a call it made for an Exchange ended because the Exchange's caller had gone. */
const PARENT_GONE = "the call this one was made for ended";
/** Well under call_timeout_ms (60 s), well over the caller's 500 ms deadline. */
const ENDED_WITHIN_MS = 15_000;

/** A subject token for `scope`: each test asks with a scope set of its own, so no decision for it is cached. */
async function subjectToken(scope: string): Promise<string> {
  const r = await postForm(
    `${held.stack.gatewayUrl}/oauth2/token`,
    { grant_type: "client_credentials", scope },
    { authorization: basicAuth("end-user-app", SECRET) },
  );
  expect(r.status).toBe(200);
  return r.body.access_token as string;
}

/** The token.exchanged events whose parent is `subject`. */
async function exchangedFrom(subject: string): Promise<unknown[]> {
  const parent = claimsOf(subject).jti;
  return (await storedEvents(held.stack.nats.url)).filter((e) => e.type === "token.exchanged" && e.data.parent_jti === parent);
}

/**
 * Stops `stalled` (SIGSTOP), calls Exchange (svc-a for svc-b, `scope`) with a 500 ms deadline, and returns the status
 * the caller got and whether the exchanger's handler ended while `stalled` was still stopped; `stalled` runs again
 * afterwards.
 */
async function exchangeWhileStalled(stalled: ServiceName, subject: string, scope: string): Promise<{ code: number | undefined; handlerEnded: boolean }> {
  const pid = held.stack.processes[stalled]?.pid ?? -1;
  expect(pid).toBeGreaterThan(0);
  const exchanger = held.stack.processes.exchanger;
  if (!exchanger) throw new Error("no exchanger");
  const mark = exchanger.mark();
  process.kill(pid, "SIGSTOP");
  try {
    const code = await new Promise<number | undefined>((resolve) => {
      held.grpc.exchange.Exchange(exchangeRequest("svc-a", subject, { audience: ["svc-b"], scope }), new Metadata(), { deadline: Date.now() + 500 }, (err) =>
        resolve(err?.code),
      );
    });
    // The exchanger's handler has ended (and logged why) once its call downstream has: while `stalled` is still stopped,
    // only the caller's deadline, carried down, can have ended it.
    const handlerEnded = await waitFor(() => exchanger.outputSince(mark).includes(PARENT_GONE), { timeoutMs: ENDED_WITHIN_MS, intervalMs: 50 }).then(
      () => true,
      () => false,
    );
    return { code, handlerEnded };
  } finally {
    process.kill(pid, "SIGCONT");
  }
}

describe("an Exchange's deadline bounds the exchanger's calls made for it", () => {
  it("Decide ends by the caller's deadline while the policy service is stalled, and nothing is issued", async () => {
    const subject = await subjectToken("a b");
    const r = await exchangeWhileStalled("policy", subject, "b");
    expect(r.code).toBe(status.DEADLINE_EXCEEDED);
    expect(r.handlerEnded, "the exchanger's call downstream ended within 15 s (call_timeout_ms is 60 s)").toBe(true);
    expect(held.stack.processes.exchanger?.output()).toMatch(/policy service unavailable/);
    // The same request from a caller still waiting is decided and minted after the abandoned one: once its event is in
    // the stream, so would be anything the abandoned call could have produced.
    const live = await exchange(held.grpc.exchange, "svc-a", subject, { audience: ["svc-b"], scope: "b" });
    expect(live.ok).toBe(true);
    await waitFor(async () => (await exchangedFrom(subject)).length >= 1, { timeoutMs: 10_000 });
    expect(await exchangedFrom(subject)).toHaveLength(1);
  }, 60_000);

  it("a MintBatch ends by the caller's deadline while the issuer is stalled", async () => {
    const subject = await subjectToken("a c");
    const r = await exchangeWhileStalled("issuer", subject, "c");
    expect(r.code).toBe(status.DEADLINE_EXCEEDED);
    expect(r.handlerEnded, "the exchanger's call downstream ended within 15 s (call_timeout_ms is 60 s)").toBe(true);
    // The issuer answers again. (It may still mint the abandoned batch it reads on resuming: the cancellation arrives
    // with it, and MintBatch does not check that its caller still waits before it signs and records the token.)
    const live = await exchange(held.grpc.exchange, "svc-a", subject, { audience: ["svc-b"], scope: "c" });
    expect(live.ok).toBe(true);
  }, 60_000);
});
