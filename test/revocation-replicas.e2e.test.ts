/** Revocation reaches every replica: two exchangers, a token revoked through the issuer is refused by both. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@sts/testkit";
import { basicAuth, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, chainConfig, clients, exchange } from "./chain.js";

let stack: Stack;
let first: ReturnType<typeof clients>;
let second: ReturnType<typeof clients>;

beforeAll(async () => {
  stack = await startStack(chainConfig, { services: ["issuer", "policy", "exchanger", "gateway"] });
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
    const t1 = (
      await postForm(
        `${stack.gatewayUrl}/oauth2/token`,
        { grant_type: "client_credentials", scope: "a b c" },
        { authorization: basicAuth("end-user-app", SECRET) },
      )
    ).body.access_token as string;
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
