/**
 * Bad subject and actor tokens, bad parameters: each gets its RFC 8693 error
 * (invalid_request for a bad token, RFC 8693 §2.2.2) and nothing is issued.
 */
import { createHmac } from "node:crypto";
import { Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT, generateKeyPair } from "jose";
import { connectNats, EVENTS_STREAM } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { basicAuth, claimsOf, postForm, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, call, chainConfig, clients, exchange } from "./chain.js";
import type { MintResponse__Output } from "@sts/proto";

let stack: Stack;
let grpc: ReturnType<typeof clients>;
let nats: NatsHandle;
let jwks: { keys: Array<Record<string, unknown>> };

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString("base64url");

async function at1(client = "end-user-app"): Promise<string> {
  const res = await postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    { grant_type: "client_credentials", scope: "a b c" },
    { authorization: basicAuth(client, SECRET) },
  );
  return res.body.access_token as string;
}

async function exchangedCount(): Promise<number> {
  const info = await nats.jsm.streams.info(EVENTS_STREAM.name, { subjects_filter: "sts.events.token.exchanged" });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

async function errorOf(p: ReturnType<typeof exchange>): Promise<string | undefined> {
  const r = await p;
  return r.ok ? "issued" : r.failure.error;
}

async function failureOf(p: ReturnType<typeof exchange>): Promise<{ error: string | undefined; description: string }> {
  const r = await p;
  return r.ok ? { error: "issued", description: "" } : { error: r.failure.error, description: r.failure.description };
}

beforeAll(async () => {
  stack = await startStack(chainConfig);
  grpc = clients(stack.address);
  nats = await connectNats({ servers: stack.nats.url, name: "test" });
  jwks = (await (await fetch(`${stack.gatewayUrl}/oauth2/jwks`)).json()) as typeof jwks;
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await nats?.close();
  await stack?.stop();
});

describe("bad subject tokens are invalid_request and issue nothing", () => {
  it("refuses forged, foreign and malformed tokens", async () => {
    const before = await exchangedCount();
    const real = await at1();
    const claims = claimsOf(real);
    const [h, p] = real.split(".");
    const kid = (jwks.keys[0] as { kid: string }).kid;
    const other = await generateKeyPair("ES256");
    const forged = {
      "alg none": `${b64({ alg: "none", typ: "at+jwt" })}.${p}.`,
      "HS256 with the public key": (() => {
        const input = `${b64({ alg: "HS256", kid, typ: "at+jwt" })}.${p}`;
        return `${input}.${createHmac("sha256", JSON.stringify(jwks.keys[0])).update(input).digest("base64url")}`;
      })(),
      "unknown kid": await new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "nope", typ: "at+jwt" }).sign(other.privateKey),
      "our kid, another key": await new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid, typ: "at+jwt" }).sign(other.privateKey),
      "untrusted issuer": await new SignJWT({ ...claims, iss: "https://evil.example" })
        .setProtectedHeader({ alg: "ES256", kid: "evil", typ: "at+jwt" })
        .sign(other.privateKey),
      "tampered payload": `${h}.${b64({ ...claims, scope: "a b c d" })}.${real.split(".")[2]}`,
      "duplicate members": `${h}.${Buffer.from(`{"sub":"x",${JSON.stringify(claims).slice(1)}`).toString("base64url")}.${real.split(".")[2]}`,
      "not a JWT": "hello",
      oversized: `${h}.${"A".repeat(20_000)}.${real.split(".")[2]}`,
    };
    for (const [name, token] of Object.entries(forged)) {
      expect([name, await errorOf(exchange(grpc.exchange, "svc-a", token, { audience: ["svc-b"], scope: "b" }))]).toEqual([name, "invalid_request"]);
    }
    expect(await exchangedCount()).toBe(before);
  });

  it("refuses an expired token", async () => {
    const short = await at1("short-lived");
    const exp = claimsOf(short).exp as number;
    while (Date.now() / 1000 < exp + 1) await new Promise((r) => setTimeout(r, 200));
    expect(await errorOf(exchange(grpc.exchange, "svc-a", short, { audience: ["svc-b"], scope: "b" }))).toBe("invalid_request");
  });

  it("refuses a token past its exp though within the clock tolerance: nothing can be made from it", async () => {
    // A replica whose clock runs 10 s ahead sees the 2 s token expired, yet inside the 30 s tolerance of verification.
    const ahead = await stack.startReplica("exchanger", { STS_CLOCK_OFFSET: "10" });
    const replica = clients({ ...stack.address, exchanger: ahead.address });
    try {
      const before = await exchangedCount();
      expect(await errorOf(exchange(replica.exchange, "svc-a", await at1("short-lived"), { audience: ["svc-b"], scope: "b" }))).toBe("invalid_request");
      expect(await exchangedCount()).toBe(before);
    } finally {
      replica.close();
      await ahead.handle.stop();
    }
  }, 60_000);

  it("refuses a token that is not yet valid (a replica whose clock is behind sees iat in the future)", async () => {
    const lagging = await stack.startReplica("exchanger", { STS_CLOCK_OFFSET: "-300" });
    const replica = clients({ ...stack.address, exchanger: lagging.address });
    try {
      expect(await errorOf(exchange(replica.exchange, "svc-a", await at1(), { audience: ["svc-b"], scope: "b" }))).toBe("invalid_request");
    } finally {
      replica.close();
      await lagging.handle.stop();
    }
  }, 60_000);
});

describe("bad parameters", () => {
  it.each([
    ["an unknown subject_token_type", { subject_token_type: "urn:ietf:params:oauth:token-type:saml2" }, "invalid_request"],
    ["an unsupported requested_token_type", { requested_token_type: "urn:ietf:params:oauth:token-type:id_token" }, "invalid_request"],
    ["an actor_token without actor_token_type", { actor_token: "x.y.z" }, "invalid_request"],
    ["a scope with a path trick", { scope: "read:/data/../etc" }, "invalid_scope"],
    ["an encoded path trick", { scope: "read:/data/%2e%2e/etc" }, "invalid_scope"],
    ["an oversized scope", { scope: "b".repeat(5000) }, "invalid_scope"],
    ["an oversized audience", { audience: ["x".repeat(5000)] }, "invalid_request"],
  ])("refuses %s", async (_name, more, expected) => {
    const before = await exchangedCount();
    expect(await errorOf(exchange(grpc.exchange, "svc-a", await at1(), { audience: ["svc-b"], scope: "b", ...more }))).toBe(expected);
    expect(await exchangedCount()).toBe(before);
  });

  it("takes a request at the gateway whose subject and actor tokens are both near tokens.max_token_bytes, and judges the tokens", async () => {
    // Each token within the 8192-byte default; together over the 16 KiB a fixed body limit allowed.
    const nearMax = (tag: string): string => `${b64({ alg: "ES256", typ: "at+jwt", kid: tag })}.${"A".repeat(8_000)}.sig`;
    const form = {
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: nearMax("s"),
      subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
      actor_token: nearMax("a"),
      actor_token_type: "urn:ietf:params:oauth:token-type:access_token",
      audience: "svc-b",
      scope: "b",
    };
    const r = await postForm(`${stack.gatewayUrl}/oauth2/token`, form, { authorization: basicAuth("svc-a", SECRET) });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe("invalid_request");
    expect(r.body.error_description).not.toBe("request body too large");
    // A body larger than three tokens at the limit is still refused before anything reads it.
    const huge = await postForm(`${stack.gatewayUrl}/oauth2/token`, { ...form, scope: "b".repeat(20_000) }, { authorization: basicAuth("svc-a", SECRET) });
    expect([huge.status, huge.body.error_description]).toEqual([400, "request body too large"]);
  });

  it("records a denial without the malformed audiences it was asked for", async () => {
    const huge = "x".repeat(5000);
    expect(await errorOf(exchange(grpc.exchange, "svc-a", await at1(), { audience: ["svc-b", huge, "bad\u0000aud"], scope: "b" }))).toBe("invalid_request");
    const denial = (await storedEvents(stack.nats.url)).filter((e) => e.type === "exchange.denied").at(-1);
    expect(denial?.data).toMatchObject({ error: "invalid_request", audience: ["svc-b"], audience_not_recorded: 2 });
    expect(denial?.raw).not.toContain(huge);
  });

  it("bounds the delegation chain depth", async () => {
    const t2 = await exchange(grpc.exchange, "svc-a", await at1(), { audience: ["svc-b"], scope: "c" });
    if (!t2.ok) throw new Error(`AT2 not issued: ${t2.failure.description}`);
    const t3 = await exchange(grpc.exchange, "svc-b", t2.value.access_token, { audience: ["svc-c"], scope: "c" });
    if (!t3.ok) throw new Error(`AT3 not issued: ${t3.failure.description}`);
    // The hop svc-c → svc-d allows depth 5; the global exchange.max_depth of 2 is what refuses the third actor.
    expect(await failureOf(exchange(grpc.exchange, "svc-c", t3.value.access_token, { audience: ["svc-d"], scope: "c" }))).toMatchObject({
      error: "invalid_request",
      description: expect.stringMatching(/delegation chain deeper than 2/),
    });
  });
});

describe("a policy's depth bound", () => {
  it("is invalid_request like the global bound, not invalid_target: the chain is at fault, not the audience", async () => {
    const admin = new Metadata();
    admin.set("authorization", `Bearer ${stack.secrets.policyAdmin}`);
    const text = '@id("b-to-x-shallow")\n@max_depth("1")\npermit (principal == Client::"svc-b", action == Action::"exchange", resource == Audience::"svc-x");';
    expect((await call(grpc.policy, "Put", { policy: { id: "b-to-x-shallow", text } }, admin)).ok).toBe(true);
    try {
      const t2 = await exchange(grpc.exchange, "svc-a", await at1(), { audience: ["svc-b"], scope: "c" });
      if (!t2.ok) throw new Error(`AT2 not issued: ${t2.failure.description}`);
      // svc-b acting would make the chain two deep, within exchange.max_depth (2) but past this policy's 1.
      expect(await failureOf(exchange(grpc.exchange, "svc-b", t2.value.access_token, { audience: ["svc-x"], scope: "c" }))).toEqual({
        error: "invalid_request",
        description: "delegation chain deeper than 1",
      });
      const denial = (await storedEvents(stack.nats.url)).filter((e) => e.type === "exchange.denied").at(-1);
      expect(denial?.data).toMatchObject({ error: "invalid_request", audience: ["svc-x"] });
    } finally {
      expect((await call(grpc.policy, "Delete", { id: "b-to-x-shallow" }, admin)).ok).toBe(true);
    }
  });
});

describe("may_act (RFC 8693 §4.4)", () => {
  /** Calls Mint as the exchanger (the only caller it accepts) and returns the token. */
  async function mintAsExchanger(request: Record<string, unknown>): Promise<string> {
    const internal = new Metadata();
    internal.set("authorization", basicAuth("sts-exchanger", stack.secrets.exchanger));
    const minted = await call<MintResponse__Output>(
      grpc.token,
      "Mint",
      { requested_token_type: "urn:ietf:params:oauth:token-type:access_token", ...request },
      internal,
    );
    if (!minted.ok) throw new Error(minted.failure.description);
    return minted.value.access_token;
  }

  /** A token for alice, issued to svc-a, that only svc-b may act for. */
  async function mintMayActB(audience: string): Promise<string> {
    const token = await mintAsExchanger({
      sub: "alice",
      client_id: "svc-a",
      audience: [audience],
      scope: "a b c",
      not_after: String(Math.floor(Date.now() / 1000) + 300),
      may_act_json: JSON.stringify({ sub: "svc-b" }),
    });
    expect(claimsOf(token).may_act).toEqual({ sub: "svc-b" });
    return token;
  }

  it("accepts only the actor the subject token names", async () => {
    // svc-a holds the token (it is in its audience) and the hop svc-a → svc-b exists: only may_act stands in the way.
    const forA = await mintMayActB("svc-a");
    const before = await exchangedCount(); // (Mint itself records the minted token)
    expect(await failureOf(exchange(grpc.exchange, "svc-a", forA, { audience: ["svc-b"], scope: "b" }))).toMatchObject({
      error: "invalid_request",
      description: expect.stringMatching(/may_act/),
    });
    expect(await exchangedCount()).toBe(before);

    // svc-b, the one may_act names, gets its exchange.
    const forB = await mintMayActB("svc-b");
    const ok = await exchange(grpc.exchange, "svc-b", forB, { audience: ["svc-c"], scope: "c" });
    if (!ok.ok) throw new Error(`exchange by the named actor failed: ${ok.failure.error} ${ok.failure.description}`);
    expect(claimsOf(ok.value.access_token)).toMatchObject({ sub: "alice", aud: "svc-c", scope: "c", act: { sub: "svc-b" } });
  });

  /** svc-b's own token (its actor_token), living until exp. */
  function mintActorB(exp: number): Promise<string> {
    return mintAsExchanger({ sub: "svc-b", client_id: "svc-b", audience: ["svc-c"], scope: "", not_after: String(exp) });
  }

  /** svc-b exchanges a token for alice that names it in may_act, presenting its own actor_token. */
  async function exchangeWithActor(actorToken: string): Promise<string> {
    const subject = await mintMayActB("svc-b"); // lives 300 s
    const r = await exchange(grpc.exchange, "svc-b", subject, {
      audience: ["svc-c"],
      scope: "c",
      actor_token: actorToken,
      actor_token_type: "urn:ietf:params:oauth:token-type:access_token",
    });
    if (!r.ok) throw new Error(`exchange with an actor token failed: ${r.failure.error} ${r.failure.description}`);
    return r.value.access_token;
  }

  it("never lets the new token outlive the actor_token", async () => {
    const actorExp = Math.floor(Date.now() / 1000) + 60;
    const made = await exchangeWithActor(await mintActorB(actorExp));
    expect(claimsOf(made).exp).toBeLessThanOrEqual(actorExp);
  });

  it("revokes what was made with an actor_token when that actor_token is revoked", async () => {
    const actor = await mintActorB(Math.floor(Date.now() / 1000) + 300);
    const made = await exchangeWithActor(actor);
    expect(claimsOf(made).lineage).toContain(claimsOf(actor).jti);
    // The audit trail names the actor token beside the subject token.
    const event = (await storedEvents(stack.nats.url)).find((e) => e.type === "token.exchanged" && e.data.jti === claimsOf(made).jti);
    expect(event?.data).toMatchObject({ actor_jti: claimsOf(actor).jti, actors: ["svc-b"] });
    const active = async (): Promise<unknown> =>
      (await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token: made }, { authorization: basicAuth("svc-c", SECRET) })).body.active;
    expect(await active()).toBe(true);
    const onward = () => errorOf(exchange(grpc.exchange, "svc-c", made, { audience: ["svc-d"], scope: "c" }));
    expect(await onward()).toBe("issued");
    expect((await postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token: actor }, { authorization: basicAuth("svc-b", SECRET) })).status).toBe(200);
    await expect.poll(active, { timeout: 5_000 }).toBe(false);
    // Nor can it be exchanged onward any more, and the denial names the revoked token that was tried.
    expect(await onward()).toBe("invalid_request");
    const denial = (await storedEvents(stack.nats.url)).filter((e) => e.type === "exchange.denied").at(-1);
    expect(denial?.data).toMatchObject({
      error: "invalid_request",
      reason: "subject_token rejected: token revoked",
      subject_jti: claimsOf(made).jti,
      sub: claimsOf(made).sub,
    });
  });

  it("lets Mint record as the actor token only a jti of the new token's lineage", async () => {
    const exp = String(Math.floor(Date.now() / 1000) + 60);
    const request = { sub: "svc-b", client_id: "svc-b", audience: ["svc-c"], scope: "", not_after: exp, lineage: ["j-actor"] };
    await expect(mintAsExchanger({ ...request, actor_jti: "j-other" })).rejects.toThrow("actor_jti must be one of the lineage's jtis");
    expect(claimsOf(await mintAsExchanger({ ...request, actor_jti: "j-actor" })).lineage).toEqual(["j-actor"]);
  });

  it("refuses an actor_token that is not the caller's own", async () => {
    const subject = await at1();
    const actor = await at1(); // sub: end-user-app, not the calling svc-a
    expect(
      await failureOf(
        exchange(grpc.exchange, "svc-a", subject, {
          audience: ["svc-b"],
          scope: "b",
          actor_token: actor,
          actor_token_type: "urn:ietf:params:oauth:token-type:access_token",
        }),
      ),
    ).toMatchObject({ error: "invalid_request", description: expect.stringMatching(/actor_token does not identify the calling client/) });
  });

  it("refuses a Mint whose origin_client_id is not a client id (empty is none), minting nothing", async () => {
    const internal = new Metadata();
    internal.set("authorization", basicAuth("sts-exchanger", stack.secrets.exchanger));
    const request = { sub: "x", client_id: "svc-a", audience: ["svc-b"], not_after: String(Math.floor(Date.now() / 1000) + 60) };
    const before = await exchangedCount();
    const r = await call(grpc.token, "Mint", { ...request, origin_client_id: "c".repeat(257) }, internal);
    expect(r.ok ? "minted" : [r.failure.error, r.failure.description]).toEqual(["invalid_request", expect.stringMatching(/origin_client_id/)]);
    expect(await exchangedCount()).toBe(before);
    const minted = await call<MintResponse__Output>(grpc.token, "Mint", { ...request, origin_client_id: "app" }, internal);
    if (!minted.ok) throw new Error(minted.failure.description);
    expect(claimsOf(minted.value.access_token).origin_client_id).toBe("app");
    // The count the refusal left alone does move for a Mint that succeeds.
    expect(await exchangedCount()).toBe(before + 1);
    const none = await call<MintResponse__Output>(grpc.token, "Mint", { ...request, origin_client_id: "" }, internal);
    if (!none.ok) throw new Error(none.failure.description);
    expect(claimsOf(none.value.access_token)).not.toHaveProperty("origin_client_id");
  });

  it("refuses a Mint with a sub no RevokeSubject could name or a token type it cannot issue, minting nothing", async () => {
    const internal = new Metadata();
    internal.set("authorization", basicAuth("sts-exchanger", stack.secrets.exchanger));
    const request = { sub: "x", client_id: "svc-a", audience: ["svc-b"], not_after: String(Math.floor(Date.now() / 1000) + 60) };
    const before = await exchangedCount();
    const refusal = async (over: Record<string, unknown>) => {
      const r = await call(grpc.token, "Mint", { ...request, ...over }, internal);
      return r.ok ? "minted" : [r.failure.error, r.failure.description];
    };
    expect(await refusal({ sub: "u".repeat(1025) })).toEqual(["invalid_request", "sub is longer than 1024 bytes"]);
    expect(await refusal({ requested_token_type: "urn:ietf:params:oauth:token-type:refresh_token" })).toEqual([
      "invalid_request",
      "unsupported requested_token_type",
    ]);
    expect(await exchangedCount()).toBe(before);
    // At the bound, and with no type (an exchanger of an earlier release): an access token, said so.
    const minted = await call<MintResponse__Output>(grpc.token, "Mint", { ...request, sub: "u".repeat(1024) }, internal);
    if (!minted.ok) throw new Error(minted.failure.description);
    expect(minted.value.issued_token_type).toBe("urn:ietf:params:oauth:token-type:access_token");
    expect(await exchangedCount()).toBe(before + 1);
  });

  it("refuses Mint and MintBatch to callers that are not internal, minting nothing", async () => {
    const before = await exchangedCount();
    const md = new Metadata();
    md.set("authorization", basicAuth("svc-a", SECRET));
    const request = { sub: "x", client_id: "svc-a", audience: ["svc-b"], not_after: String(Math.floor(Date.now() / 1000) + 60) };
    const r = await call(grpc.token, "Mint", request, md);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.failure.error).toBe("unauthorized_client");
    const batch = await call(grpc.token, "MintBatch", { items: [{ request, trace_context: {} }] }, md);
    expect(batch.ok).toBe(false);
    if (!batch.ok) expect(batch.failure.error).toBe("unauthorized_client");
    expect(await exchangedCount()).toBe(before);
  });
});
