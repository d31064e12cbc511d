/**
 * Issue "RFC 8693 token exchange along A→B→C": the chain over gRPC and over
 * HTTP with an off-the-shelf OAuth client, against real processes.
 */
import { randomBytes } from "node:crypto";
import { Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oauth from "oauth4webapi";
import { waitFor } from "@sts/testkit";
import { basicAuth, claimsOf, postForm, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT, call, chainConfig, clients, exchange, mintAsExchanger } from "./chain.js";

let stack: Stack;
let grpc: ReturnType<typeof clients>;

async function at1(client = "end-user-app", scope = "a b c"): Promise<string> {
  const res = await postForm(`${stack.gatewayUrl}/oauth2/token`, { grant_type: "client_credentials", scope }, { authorization: basicAuth(client, SECRET) });
  expect(res.status).toBe(200);
  return res.body.access_token as string;
}

async function ok(p: ReturnType<typeof exchange>): Promise<string> {
  const r = await p;
  if (!r.ok) throw new Error(`exchange failed: ${r.failure.error} ${r.failure.description}`);
  return r.value.access_token;
}

async function err(p: ReturnType<typeof exchange>): Promise<string | undefined> {
  const r = await p;
  return r.ok ? "issued" : r.failure.error;
}

beforeAll(async () => {
  stack = await startStack(chainConfig);
  grpc = clients(stack.address);
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
});

describe("the A → B → C chain over gRPC", () => {
  it("down-scopes, restricts the audience and records who acts for whom at each hop", async () => {
    const t1 = await at1();
    expect(claimsOf(t1)).toMatchObject({ sub: "end-user-app", aud: "svc-a", scope: "a b c" });

    const t2 = await ok(exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "b c" }));
    const c2 = claimsOf(t2);
    expect(c2).toMatchObject({ sub: "end-user-app", aud: "svc-b", scope: "b c", client_id: "svc-a", act: { sub: "svc-a" } });

    const t3 = await ok(exchange(grpc.exchange, "svc-b", t2, { audience: ["svc-c"], scope: "c" }));
    const c3 = claimsOf(t3);
    expect(c3).toMatchObject({ sub: "end-user-app", aud: "svc-c", scope: "c", client_id: "svc-b" });
    expect(c3.act).toEqual({ sub: "svc-b", act: { sub: "svc-a" } });
    expect(c3.exp as number).toBeLessThanOrEqual(claimsOf(t1).exp as number);
    // Each exchange's durable event names the policies that allowed it and the revision they were read at.
    const exchanged = (await storedEvents(stack.nats.url)).find((e) => e.type === "token.exchanged" && e.data.jti === c3.jti);
    expect(exchanged?.data.policy_ids).toContain("hop/svc-b/svc-c/exchange");
    expect(Number(exchanged?.data.policy_revision)).toBeGreaterThan(0);

    // C can go neither back to B nor to A.
    expect(await err(exchange(grpc.exchange, "svc-c", t3, { audience: ["svc-b"], scope: "c" }))).toBe("invalid_target");
    expect(await err(exchange(grpc.exchange, "svc-c", t3, { audience: ["svc-a"], scope: "c" }))).toBe("invalid_target");
    // B cannot present AT3: it is not in AT3's audience.
    expect(await err(exchange(grpc.exchange, "svc-b", t3, { audience: ["svc-c"], scope: "c" }))).toBe("invalid_request");
  });

  it("never widens: A cannot get d, nor anything the hop does not allow, nor another audience", async () => {
    const t1 = await at1();
    expect(await err(exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "d" }))).toBe("invalid_scope");
    expect(await err(exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "a" }))).toBe("invalid_scope");
    expect(await err(exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-c"], scope: "c" }))).toBe("invalid_target");
    const partial = await ok(exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "b c d" }));
    expect(claimsOf(partial).scope).toBe("b c");
  });

  it("uses the hop's default scope when none is requested", async () => {
    const t2 = await ok(exchange(grpc.exchange, "svc-a", await at1(), { audience: ["svc-b"] }));
    expect(claimsOf(t2).scope).toBe("b c");
  });

  it("refuses a revoked subject token", async () => {
    const t1 = await at1();
    const revoke = await postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token: t1 }, { authorization: basicAuth("end-user-app", SECRET) });
    expect(revoke.status).toBe(200);
    // Revocation reaches the exchanger through a KV watch: poll (generously), never sleep fixed.
    const outcome = await waitFor(
      async () => {
        const e = await err(exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "b" }));
        return e === "issued" ? undefined : e;
      },
      { timeoutMs: 10_000, intervalMs: 20, message: "revocation not seen by the exchanger" },
    );
    expect(outcome).toBe("invalid_request");
  });

  it("revokes, with a token, every token exchanged from it further down the chain", async () => {
    const introspect = async (token: string, as: string) =>
      (await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token }, { authorization: basicAuth(as, SECRET) })).body.active;
    const chain = async () => {
      const t1 = await at1();
      const t2 = await ok(exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "b c" }));
      const t3 = await ok(exchange(grpc.exchange, "svc-b", t2, { audience: ["svc-c"], scope: "c" }));
      return { t1, t2, t3 };
    };
    const whole = await chain();
    const [j1, j2] = [claimsOf(whole.t1).jti, claimsOf(whole.t2).jti];
    expect(claimsOf(whole.t1).lineage).toBeUndefined();
    expect(claimsOf(whole.t2).lineage).toEqual([j1]);
    expect(claimsOf(whole.t3).lineage).toEqual([j2, j1]);
    expect(await introspect(whole.t3, "svc-c")).toBe(true);

    // Revoking the root: the tokens made from it, at every depth, go with it.
    expect((await postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token: whole.t1 }, { authorization: basicAuth("end-user-app", SECRET) })).status).toBe(200);
    await waitFor(async () => (await err(exchange(grpc.exchange, "svc-b", whole.t2, { audience: ["svc-c"], scope: "c" }))) === "invalid_request", {
      timeoutMs: 10_000,
      intervalMs: 20,
      message: "revocation of AT1 not seen for AT2",
    });
    expect(await introspect(whole.t3, "svc-c")).toBe(false);

    // Revoking a middle token: what was made from it goes, what it was made from stays.
    const middle = await chain();
    expect((await postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token: middle.t2 }, { authorization: basicAuth("svc-a", SECRET) })).status).toBe(200);
    await waitFor(async () => !(await introspect(middle.t3, "svc-c")), { timeoutMs: 10_000, intervalMs: 20, message: "revocation of AT2 not seen for AT3" });
    expect(await introspect(middle.t1, "end-user-app")).toBe(true);
    expect(await err(exchange(grpc.exchange, "svc-a", middle.t1, { audience: ["svc-b"], scope: "b" }))).toBe("issued");
  });

  it("applies a policy change made through the policy service on the next exchange, without restart", async () => {
    const t1 = await at1();
    expect(await err(exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "b" }))).toBe("issued");
    const admin = new Metadata();
    admin.set("authorization", `Bearer ${stack.secrets.policyAdmin}`);
    const text = '@id("freeze-a-to-b")\nforbid (principal == Client::"svc-a", action == Action::"exchange", resource == Audience::"svc-b");';
    const put = await call(grpc.policy, "Put", { policy: { id: "freeze-a-to-b", text, description: "incident freeze" } }, admin);
    expect(put.ok).toBe(true);
    try {
      expect(await err(exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "b" }))).toBe("invalid_target");
    } finally {
      // Always lift the freeze, so a failure here cannot leak into the other tests of this file.
      const del = await call(grpc.policy, "Delete", { id: "freeze-a-to-b" }, admin);
      expect(del.ok).toBe(true);
    }
    // Lifted: the exchanger drops the freeze's cached deny when policy.updated reaches it. NATS sends the event to it
    // before the Delete is answered, but a loaded machine may hand the exchanger the next exchange first; a stale deny
    // refuses (fails closed), so here only a bounded wait, where the freeze above had to hold at once.
    await waitFor(async () => (await err(exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "b" }))) === "issued", {
      timeoutMs: 5_000,
      intervalMs: 20,
      message: "the lifted freeze never took effect",
    });
  });

  it("narrows a request for a broader path to the narrower scope a policy allows (@narrow_to), instead of refusing it", async () => {
    const t1 = await at1("end-user-app", "read:/data");
    const admin = new Metadata();
    admin.set("authorization", `Bearer ${stack.secrets.policyAdmin}`);
    const policies = [
      {
        id: "a-to-archive",
        text: '@id("a-to-archive")\n@narrow_to("read:/data/cern")\npermit (principal == Client::"svc-a", action == Action::"exchange", resource == Audience::"archive");',
      },
      {
        id: "a-to-archive-scopes",
        text: 'permit (principal == Client::"svc-a", action == Action::"request_scope", resource == Audience::"archive") when { context.scope == "read:/data/cern" || context.scope like "read:/data/cern/*" };',
      },
    ];
    for (const policy of policies) expect((await call(grpc.policy, "Put", { policy }, admin)).ok).toBe(true);
    try {
      const r = await exchange(grpc.exchange, "svc-a", t1, { audience: ["archive"], scope: "read:/data" });
      if (!r.ok) throw new Error(`not issued: ${r.failure.error} ${r.failure.description}`);
      // RFC 6749 §5.1: the response names the scope, since it differs from the one asked.
      expect(r.value.scope).toBe("read:/data/cern");
      expect(claimsOf(r.value.access_token)).toMatchObject({ aud: "archive", scope: "read:/data/cern" });
      // Nothing of the policy's lies under a sibling path.
      expect(await err(exchange(grpc.exchange, "svc-a", t1, { audience: ["archive"], scope: "read:/data/atlas" }))).toBe("invalid_scope");
    } finally {
      for (const { id } of policies) expect((await call(grpc.policy, "Delete", { id }, admin)).ok).toBe(true);
    }
  });

  it("refuses a policy write without the operator credential (UNAUTHENTICATED, invalid_token), storing nothing, and a bad policy with its position", async () => {
    const admin = new Metadata();
    admin.set("authorization", `Bearer ${stack.secrets.policyAdmin}`);
    const ids = async (): Promise<string[]> => {
      const r = await call<{ policies: Array<{ id: string }> }>(grpc.policy, "List", {}, admin);
      if (!r.ok) throw new Error(`List: ${r.failure.error} ${r.failure.description}`);
      return r.value.policies.map((p) => p.id);
    };
    // A policy that would allow everything: refused for the missing credential, not for anything in its text.
    const anon = await call(grpc.policy, "Put", { policy: { id: "anon-permit-all", text: "permit (principal, action, resource);" } });
    expect(anon.ok ? "stored" : [anon.failure.grpcCode, anon.failure.error]).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
    expect(await ids()).not.toContain("anon-permit-all");
    const bad = await call(
      grpc.policy,
      "Put",
      { policy: { id: "bad", text: 'permit (principal, action == Action::"exchange", resource) when { context.nope };' } },
      admin,
    );
    expect(bad.ok ? "stored" : [bad.failure.grpcCode, bad.failure.error]).toEqual([status.INVALID_ARGUMENT, "invalid_request"]);
    expect(bad.ok ? "" : bad.failure.description).toMatch(/line 1/);
    expect(await ids()).not.toContain("bad");
  });
});

describe("the same chain over HTTP with an off-the-shelf client (oauth4webapi)", () => {
  it("exchanges AT1 → AT2 → AT3 through /oauth2/token", async () => {
    const issuer = new URL(stack.gatewayUrl);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", [oauth.allowInsecureRequests]: true }));
    const options = { [oauth.allowInsecureRequests]: true };
    const hop = async (caller: string, subject: string, audience: string, scope: string) => {
      const res = await oauth.genericTokenEndpointRequest(
        as,
        { client_id: caller },
        oauth.ClientSecretBasic(SECRET),
        EXCHANGE_GRANT,
        { subject_token: subject, subject_token_type: TOKEN_TYPE_AT, audience, scope },
        options,
      );
      return oauth.processGenericTokenEndpointResponse(as, { client_id: caller }, res);
    };
    const r2 = await hop("svc-a", await at1(), "svc-b", "b c");
    expect(r2).toMatchObject({ issued_token_type: TOKEN_TYPE_AT, token_type: "bearer", scope: "b c" });
    // The gRPC answer's jti (for caching callers) is not a member of RFC 8693's response.
    expect(r2).not.toHaveProperty("jti");
    const r3 = await hop("svc-b", r2.access_token, "svc-c", "c");
    expect(claimsOf(r3.access_token)).toMatchObject({ aud: "svc-c", scope: "c", act: { sub: "svc-b", act: { sub: "svc-a" } } });
    const back = await postForm(
      `${stack.gatewayUrl}/oauth2/token`,
      { grant_type: EXCHANGE_GRANT, subject_token: r3.access_token, subject_token_type: TOKEN_TYPE_AT, audience: "svc-a" },
      { authorization: basicAuth("svc-c", SECRET) },
    );
    expect(back.status).toBe(400);
    expect(back.body.error).toBe("invalid_target");
  });
});

describe("trace context at the public edge", () => {
  it("does not let a caller's traceparent choose the trace the token's event is recorded in (incoming_trace: link, the default)", async () => {
    const traceId = randomBytes(16).toString("hex");
    const res = await postForm(
      `${stack.gatewayUrl}/oauth2/token`,
      { grant_type: "client_credentials", scope: "a" },
      { authorization: basicAuth("end-user-app", SECRET), traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01` },
    );
    expect(res.status).toBe(200);
    const jti = claimsOf(res.body.access_token as string).jti;
    const event = (await storedEvents(stack.nats.url)).find((e) => e.type === "token.issued" && e.data.jti === jti);
    expect(event).toBeDefined();
    expect(event?.raw).not.toContain(traceId);
  });
});

describe("requested token types (RFC 8693 §2.2.1)", () => {
  it("issues a JWT when one is asked for, as a Bearer token", async () => {
    const r = await exchange(grpc.exchange, "svc-a", await at1(), {
      audience: ["svc-b"],
      scope: "b",
      requested_token_type: "urn:ietf:params:oauth:token-type:jwt",
    });
    if (!r.ok) throw new Error(r.failure.description);
    expect(r.value).toMatchObject({ issued_token_type: "urn:ietf:params:oauth:token-type:jwt", token_type: "Bearer" });
    expect(claimsOf(r.value.access_token)).toMatchObject({ aud: "svc-b", scope: "b" });
    // Told in the answer, so a caller caching an opaque token can see it revoked.
    expect((r.value as { jti?: string }).jti).toBe(claimsOf(r.value.access_token).jti);
  });

  it("does not hand a JWT to an audience configured for opaque tokens", async () => {
    const mint = (requested_token_type: string) =>
      mintAsExchanger(grpc.token, stack.secrets.exchanger, { sub: "alice", client_id: "svc-c", audience: ["svc-d"], scope: "c", requested_token_type });
    const jwt = await mint("urn:ietf:params:oauth:token-type:jwt");
    expect(jwt.ok ? "issued" : jwt.failure.error).toBe("invalid_target");
    const opaque = await mint(TOKEN_TYPE_AT);
    expect(opaque.ok && opaque.value.access_token).toMatch(/^sto_/);
    expect(opaque.ok && opaque.value.issued_token_type).toBe(TOKEN_TYPE_AT);
  });
});

describe("what-if and events", () => {
  it("answers a what-if through Validate without changing the policy in force", async () => {
    const request = {
      client_id: "svc-a",
      audience: "svc-b",
      requested_scopes: ["b", "c"],
      subject: { sub: "u", client_id: "end-user-app", iss: stack.gatewayUrl, scopes: ["a", "b", "c"], audience: ["svc-a"] },
      depth: 1,
      actors: [],
      caller_in_audience: true,
    };
    const operator = new Metadata();
    operator.set("authorization", `Bearer ${stack.secrets.policyAdmin}`);
    // What-if and reading policies are for operators only (RFC 6750 §3.1: no token is invalid_token).
    for (const [method, body] of [
      ["Validate", { request }],
      ["List", {}],
      ["Get", { id: "hop/svc-a/svc-b/exchange" }],
    ] as const) {
      const anon = await call(grpc.policy, method, body);
      expect(anon.ok ? "allowed" : anon.failure.error).toBe("invalid_token");
    }
    const listed = await call<{ policies: Array<{ id: string }> }>(grpc.policy, "List", {}, operator);
    expect(listed.ok && listed.value.policies.map((p) => p.id)).toContain("hop/svc-a/svc-b/exchange");
    const current = await call<{ allow: boolean; allowed_scopes: string[]; policy_ids: string[] }>(grpc.policy, "Validate", { request }, operator);
    expect(current.ok && current.value).toMatchObject({ allow: true, allowed_scopes: ["b", "c"], policy_ids: ["hop/svc-a/svc-b/exchange"] });
    const candidate = {
      id: "hop/svc-a/svc-b/scopes",
      text: 'permit (principal == Client::"svc-a", action == Action::"request_scope", resource == Audience::"svc-b") when { context.scope == "c" };',
    };
    const whatIf = await call<{ allow: boolean; allowed_scopes: string[] }>(grpc.policy, "Validate", { request, candidate }, operator);
    expect(whatIf.ok && whatIf.value).toMatchObject({ allow: true, allowed_scopes: ["c"] });
    const after = await call<{ allowed_scopes: string[] }>(grpc.policy, "Decide", request);
    expect(after.ok && after.value.allowed_scopes).toEqual(["b", "c"]);
  });

  it("records denials as exchange.denied, and no event holds a token, secret or signature", async () => {
    const t1 = await at1();
    expect(await err(exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-z"], scope: "b" }))).toBe("invalid_target");
    const events = await storedEvents(stack.nats.url);
    const denied = events.filter((e) => e.type === "exchange.denied");
    expect(denied.some((e) => e.data.error === "invalid_target" && e.data.client_id === "svc-a" && (e.data.audience as string[]).includes("svc-z"))).toBe(true);
    const all = events.map((e) => e.raw).join("\n");
    // A JWT (three base64url parts starting with eyJ), a client secret, or the signature of AT1 never appear.
    expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/);
    expect(all).not.toContain(SECRET);
    expect(all).not.toContain(t1.split(".")[2]);
    expect(events.length).toBeGreaterThan(5);
  });
});
