/**
 * What the exchanger records and answers when it refuses, against the real stack: an exchange the policy refused is
 * recorded as exchange.denied with the decision that refused it (which audience of several, which forbid, at which
 * revision, and the policy service's reason, which sts.policy.v1 Decision says is for that event); a subject token
 * whose lineage is already as long as a token may carry is refused as invalid_request for the subject token before
 * the policy is asked, alone or with an actor token (before, Mint refused it in its own words, or the actor token was
 * blamed).
 */
import { Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_TYPES } from "@sts/nats";
import { basicAuth, claimsOf, postForm, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT, call, clients, exchange } from "./chain.js";

const FREEZE = {
  id: "freeze-a-to-c",
  text: '@id("freeze-a-to-c")\nforbid (principal == Client::"svc-a", action == Action::"exchange", resource == Audience::"svc-c");',
};

let stack: Stack;
let grpc: ReturnType<typeof clients>;

beforeAll(async () => {
  stack = await startStack(
    {
      policy: {
        hops: [
          { from: "svc-a", to: "svc-b", scopes: ["a", "b"] },
          { from: "svc-a", to: "svc-c", scopes: ["a", "b"] },
          { from: "svc-b", to: "svc-c", scopes: ["a", "b"] },
        ],
      },
      clients: [
        { client_id: "end-user-app", client_secret: SECRET, scope: ["a", "b"], audience: ["svc-a"] },
        { client_id: "svc-a", client_secret: SECRET, grant_types: [EXCHANGE_GRANT], scope: [], audience: [] },
        { client_id: "svc-b", client_secret: SECRET, grant_types: ["client_credentials", EXCHANGE_GRANT], scope: ["x"], audience: ["svc-d"] },
      ],
    },
    { services: ["issuer", "policy", "exchanger", "gateway"] },
  );
  grpc = clients(stack.address);
  const admin = new Metadata();
  admin.set("authorization", `Bearer ${stack.secrets.policyAdmin}`);
  const put = await call(grpc.policy, "Put", { policy: { ...FREEZE, description: "incident freeze" } }, admin);
  if (!put.ok) throw new Error(`freeze not written: ${put.failure.description}`);
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
});

/** A token of end-user-app for svc-a with scope a b: a subject token svc-a may exchange. */
async function subjectToken(): Promise<string> {
  const r = await postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    { grant_type: "client_credentials", scope: "a b" },
    { authorization: basicAuth("end-user-app", SECRET) },
  );
  if (r.status !== 200) throw new Error(`client_credentials failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.access_token as string;
}

/** The data of every exchange.denied event naming the subject token `token`. */
async function denialsOf(token: string): Promise<Array<Record<string, unknown>>> {
  const jti = claimsOf(token).jti;
  return (await storedEvents(stack.nats.url)).filter((e) => e.type === EVENT_TYPES.EXCHANGE_DENIED && e.data.subject_jti === jti).map((e) => e.data);
}

describe("exchange.denied of an exchange the policy refused", () => {
  it("names the audience refused, the forbid that decided, the policy revision and the policy service's reason", async () => {
    const token = await subjectToken();
    const r = await exchange(grpc.exchange, "svc-a", token, { audience: ["svc-b", "svc-c"], scope: "a" });
    expect(r.ok ? "issued" : [r.failure.error, r.failure.description]).toEqual(["invalid_target", "exchange to this audience is not permitted"]);
    const denials = await denialsOf(token);
    expect(denials).toHaveLength(1);
    expect(denials[0]).toMatchObject({
      error: "invalid_target",
      client_id: "svc-a",
      audience: ["svc-b", "svc-c"],
      denied_audience: "svc-c",
      policy_ids: ["freeze-a-to-c"],
      policy_reason: "forbidden by policy freeze-a-to-c",
    });
    expect(String(denials[0]?.policy_revision)).toMatch(/^[1-9]\d*$/);
  });

  it("says no policy permitted it when none did (no forbid to name)", async () => {
    const token = await subjectToken();
    const r = await exchange(grpc.exchange, "svc-a", token, { audience: ["svc-z"], scope: "a" });
    expect(r.ok ? "issued" : r.failure.error).toBe("invalid_target");
    expect(await denialsOf(token)).toEqual([
      expect.objectContaining({ denied_audience: "svc-z", policy_ids: [], policy_reason: "no policy permits client svc-a to exchange for audience svc-z" }),
    ]);
  });

  it("names no policy when the exchange was refused before any decision", async () => {
    const token = await subjectToken();
    const r = await exchange(grpc.exchange, "svc-a", token, { audience: ["svc-b"], scope: "z" });
    expect(r.ok ? "issued" : r.failure.error).toBe("invalid_scope");
    const denials = await denialsOf(token);
    expect(denials).toHaveLength(1);
    for (const member of ["denied_audience", "policy_ids", "policy_revision", "policy_reason"]) expect(denials[0]).not.toHaveProperty(member);
  });
});

/** The token made by one exchange that must succeed. */
async function exchanged(r: ReturnType<typeof exchange>): Promise<string> {
  const result = await r;
  if (!result.ok) throw new Error(`exchange failed: ${result.failure.error} ${result.failure.description}`);
  return result.value.access_token;
}

describe("a subject token whose lineage is as long as a token may carry (33 jtis)", () => {
  it("is refused as the subject token's fault, in the exchange's own words, with or without an actor token", async () => {
    // Each exchange with an actor token carries the actor token's jti and lineage on: svc-a, presenting the previous
    // result as its actor token, makes tokens one act deep whose lineage grows by two at each step (1, 3, ..., 33).
    let long = await exchanged(exchange(grpc.exchange, "svc-a", await subjectToken(), { audience: ["svc-b"], scope: "a" }));
    while ((claimsOf(long).lineage as unknown[]).length < 33) {
      const actor = { actor_token: long, actor_token_type: TOKEN_TYPE_AT };
      long = await exchanged(exchange(grpc.exchange, "svc-a", await subjectToken(), { audience: ["svc-b"], scope: "a", ...actor }));
    }
    expect(claimsOf(long)).toMatchObject({ aud: "svc-b", act: { sub: "svc-a" } });
    expect(claimsOf(long).lineage).toHaveLength(33);

    const own = await postForm(
      `${stack.gatewayUrl}/oauth2/token`,
      { grant_type: "client_credentials", scope: "x" },
      { authorization: basicAuth("svc-b", SECRET) },
    );
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    const outcome = async (more: Record<string, string>): Promise<unknown> => {
      const r = await exchange(grpc.exchange, "svc-b", long, { audience: ["svc-c"], scope: "a", ...more });
      return r.ok ? "issued" : [r.failure.error, r.failure.description];
    };
    const refused = ["invalid_request", "subject_token rejected: its lineage already names 33 tokens, the most a token may carry: it cannot be exchanged on"];
    expect({
      alone: await outcome({}),
      "with svc-b's actor token": await outcome({ actor_token: own.body.access_token as string, actor_token_type: TOKEN_TYPE_AT }),
    }).toEqual({ alone: refused, "with svc-b's actor token": refused });
    const denials = (await storedEvents(stack.nats.url)).filter((e) => e.type === EVENT_TYPES.EXCHANGE_DENIED && e.data.client_id === "svc-b");
    expect(denials.map((d) => [d.data.error, d.data.reason])).toEqual([refused, refused]);
  });
});
