/**
 * Review of the NATS and revocation libs, through the real stack: a revocation record this release cannot read (a
 * half-written value, a newer release's shape) still revokes what its key names, at every verifier and in a replica
 * started after it was written, instead of being read as no revocation (fail closed, SECURITY.md).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUCKETS, connectNats, encodeKey, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { waitFor } from "@sts/testkit";
import { basicAuth, claimsOf, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, chainConfig, chainStartToken, clients, exchange } from "./chain.js";

let stack: Stack;
let nats: NatsHandle;
let chain: ReturnType<typeof clients>;

beforeAll(async () => {
  stack = await startStack(chainConfig, { services: ["issuer", "policy", "exchanger", "gateway"] });
  nats = await connectNats({ servers: stack.nats.url, name: "nats-revocation-review" });
  chain = clients(stack.address);
}, 90_000);

afterAll(async () => {
  chain?.close();
  await nats?.close();
  await stack?.stop();
});

/** Whether svc-a's exchange of `token` is refused as a revoked subject token (RFC 8693 §2.2.2: invalid_request). */
async function refusedAsRevoked(c: ReturnType<typeof clients>, token: string): Promise<boolean> {
  const r = await exchange(c.exchange, "svc-a", token, { audience: ["svc-b"], scope: "b" });
  return !r.ok && r.failure.error === "invalid_request";
}

/** What the gateway's introspection says of `token` to svc-a, the audience it was issued for (RFC 7662 §2.2). */
async function introspected(token: string): Promise<unknown> {
  return (await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token }, { authorization: basicAuth("svc-a", SECRET) })).body;
}

describe("a revocation record the verifiers cannot read", () => {
  it("revokes the jti its key names at the issuer and the exchanger, and in an exchanger replica started after it", async () => {
    const token = await chainStartToken(stack.gatewayUrl);
    expect((await exchange(chain.exchange, "svc-a", token, { audience: ["svc-b"], scope: "b" })).ok).toBe(true);
    expect(await introspected(token)).toMatchObject({ active: true });
    const revocations = await openBucket(nats, BUCKETS.revocations, { bind: true });
    // Written under the token's own key, as only the issuer writes it, but in no shape this release reads.
    await revocations.put(encodeKey(claimsOf(token).jti as string), "{half-written");
    await waitFor(() => refusedAsRevoked(chain, token), { timeoutMs: 10_000, intervalMs: 50, message: "the exchanger read the record as no revocation" });
    await waitFor(async () => JSON.stringify(await introspected(token)) === JSON.stringify({ active: false }), {
      timeoutMs: 10_000,
      intervalMs: 50,
      message: "the issuer's introspection read the record as no revocation",
    });
    // A replica that never saw a readable value under the key (every restart, every hourly reload of the copy).
    const replica = await stack.startReplica("exchanger");
    const fresh = clients({ ...stack.address, exchanger: replica.address });
    try {
      expect(await refusedAsRevoked(fresh, token)).toBe(true);
    } finally {
      fresh.close();
      await replica.handle.stop();
    }
  });
});
