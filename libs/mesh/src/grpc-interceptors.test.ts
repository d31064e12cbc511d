import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata, credentials, getChannelzHandlers, status } from "@grpc/grpc-js";
import type { Client, ServiceError } from "@grpc/grpc-js";
import { decodeJwt } from "jose";
import { OAuthError } from "@sts/errors";
import { ERROR_METADATA, statusFromOAuthError } from "@sts/grpc";
import { loadExchangeProto, loadTokenProto } from "@sts/proto";
import { ExchangeCache } from "./exchange-cache.js";
import { jwt, revocationState, startStandIns } from "./stand-ins.fixture.js";
import { EXCHANGE_FAILED, meshClientInterceptor, meshFetch } from "./grpc-interceptors.js";
import { MisplacedToken } from "./token-placement.js";

const { revoked, revocations } = revocationState();
/** How many calls reached the callee. */
let reachedCallee = 0;

/**
 * The exchanger's answer for a subject token, by its `sub`, as the real one sends them (the OAuth code in metadata):
 * `bad-subject`: the subject_token refused (invalid_request, RFC 8693 §2.2.2); `wrong-secret`: the workload's client
 * authentication failed (invalid_client); `no-exchange-grant`: a client not allowed to exchange (unauthorized_client);
 * `not-this-hop`: the policy refusing the hop (invalid_target); `exchanger-bug`: its own failure (server_error);
 * anything else: a token.
 */
const EXCHANGER_ANSWERS: Record<string, OAuthError> = {
  "bad-subject": new OAuthError("invalid_request", "subject_token is not valid"),
  "wrong-secret": new OAuthError("invalid_client", "client authentication failed for svc-a"),
  "no-exchange-grant": new OAuthError("unauthorized_client", "client may not use token exchange"),
  "not-this-hop": new OAuthError("invalid_target", "svc-a may not call svc-b"),
  "exchanger-bug": new OAuthError("server_error", "internal error"),
  "exchanger-busy": new OAuthError("temporarily_unavailable", "policy service unavailable", { retryAfter: 7 }),
};

let standIns: Awaited<ReturnType<typeof startStandIns>>;
let address: string;
const exchangeService = loadExchangeProto().sts.exchange.v1.ExchangeService;
const tokenService = loadTokenProto().sts.token.v1.TokenService;

beforeAll(async () => {
  standIns = await startStandIns({
    refusal: (request) => {
      const refusal = EXCHANGER_ANSWERS[String(decodeJwt(request.subject_token).sub)];
      return refusal && statusFromOAuthError(refusal);
    },
    onCallee: () => void reachedCallee++,
  });
  address = standIns.address;
});

afterAll(() => {
  standIns?.stop();
});

/** A TokenService client whose calls go through the mesh interceptor (svc-a's exchange for svc-b, scope b), and its cache. */
function meshClient(): { client: InstanceType<typeof tokenService>; exchange: ExchangeCache } {
  const exchange = new ExchangeCache({
    exchanger: new exchangeService(address, credentials.createInsecure()),
    authorization: "Basic c3ZjLWE6cw==",
    revocations,
  });
  const client = new tokenService(address, credentials.createInsecure(), {
    interceptors: [meshClientInterceptor(exchange, { audience: "svc-b", scopes: ["b"] })],
  });
  return { client, exchange };
}

/** One call through a client with the mesh interceptor, carrying `subject` as the inbound token; its error, if any. */
async function callWith(subject: string): Promise<ServiceError | null> {
  const { client } = meshClient();
  const md = new Metadata();
  md.set("authorization", `Bearer ${subject}`);
  try {
    return await new Promise((resolve) => client.GetJwks({}, md, (err: ServiceError | null) => resolve(err)));
  } finally {
    client.close();
  }
}

describe("meshClientInterceptor's refusals", () => {
  it("answers a revoked inbound token with UNAUTHENTICATED, as the sidecar does, and sends nothing", async () => {
    const subject = await jwt({ sub: "alice" });
    revoked.add(String(decodeJwt(subject).jti));
    const before = reachedCallee;
    const err = await callWith(subject);
    expect(err).toMatchObject({ code: status.UNAUTHENTICATED, details: "the inbound token is revoked" });
    expect(err?.metadata.get("oauth-error")).toEqual(["invalid_token"]);
    expect(reachedCallee).toBe(before);
  });

  it("answers a malformed inbound token with UNAUTHENTICATED", async () => {
    expect(await callWith("not-a-jwt")).toMatchObject({ code: status.UNAUTHENTICATED, details: "malformed bearer token" });
  });

  it("answers the exchanger refusing the inbound token as subject_token (invalid_request) with UNAUTHENTICATED, invalid_token as the sidecar does", async () => {
    const err = await callWith(await jwt({ sub: "bad-subject" }));
    expect(err).toMatchObject({ code: status.UNAUTHENTICATED, details: "subject_token is not valid" });
    expect(err?.metadata.get("oauth-error")).toEqual(["invalid_token"]);
  });

  it.each([
    ["wrong-secret", "invalid_client"],
    ["no-exchange-grant", "unauthorized_client"],
  ])("answers the exchanger refusing the workload's own client (%s: %s) with INTERNAL and a generic message, not the caller's fault", async (sub, code) => {
    const before = reachedCallee;
    const err = await callWith(await jwt({ sub }));
    expect(err).toMatchObject({ code: status.INTERNAL, details: EXCHANGE_FAILED });
    // What the exchanger said about our credentials stays out of the details; the code is there for the application's logs.
    expect(err?.details).not.toContain("svc-a");
    expect(err?.metadata.get("oauth-error")).toEqual([code]);
    expect(reachedCallee).toBe(before);
  });

  it("answers the exchanger's own failure (server_error) with INTERNAL, not PERMISSION_DENIED", async () => {
    expect(await callWith(await jwt({ sub: "exchanger-bug" }))).toMatchObject({ code: status.INTERNAL, details: EXCHANGE_FAILED });
  });

  it("answers the policy refusing the hop with PERMISSION_DENIED, insufficient_scope and the route's scopes (RFC 6750 §3.1), as the sidecar does", async () => {
    const err = await callWith(await jwt({ sub: "not-this-hop" }));
    expect(err).toMatchObject({ code: status.PERMISSION_DENIED, details: "svc-a may not call svc-b" });
    expect([err?.metadata.get("oauth-error"), err?.metadata.get("www-authenticate")]).toEqual([
      ["insufficient_scope"],
      ['Bearer error="insufficient_scope", error_description="svc-a may not call svc-b", scope="b"'],
    ]);
  });

  it("answers the exchanger being unavailable with UNAVAILABLE and passes on its retry-after", async () => {
    const err = await callWith(await jwt({ sub: "exchanger-busy" }));
    expect(err).toMatchObject({ code: status.UNAVAILABLE });
    expect([err?.metadata.get("oauth-error"), err?.metadata.get(ERROR_METADATA.RETRY_AFTER)]).toEqual([["temporarily_unavailable"], ["7"]]);
  });

  it("lets a call with a good token through", async () => {
    expect(await callWith(await jwt({ sub: "alice" }))).toBeNull();
  });
});

/** What channelz counts of a client's channel: calls started, and calls that ended (either way). */
async function channelCalls(client: Client): Promise<{ started: number; ended: number }> {
  const id = client.getChannel().getChannelzRef().id;
  const { GetChannel } = getChannelzHandlers();
  const data = await new Promise<{ calls_started: number; calls_succeeded: number; calls_failed: number }>((resolve, reject) =>
    GetChannel(
      { request: { channel_id: String(id) } } as never,
      ((err: Error | null, res?: { channel: { data: never } }) => (err || !res ? reject(err ?? new Error("no channel")) : resolve(res.channel.data))) as never,
    ),
  );
  return { started: Number(data.calls_started), ended: Number(data.calls_succeeded) + Number(data.calls_failed) };
}

describe("meshClientInterceptor's refused calls", () => {
  it("ends every call it refuses, so that none stays counted as under way on its channel (unbounded resource use)", async () => {
    const { client } = meshClient();
    try {
      const call = (authorization?: string): Promise<ServiceError | null> => {
        const md = new Metadata();
        if (authorization !== undefined) md.set("authorization", authorization);
        return new Promise((resolve) => client.GetJwks({}, md, (err: ServiceError | null) => resolve(err)));
      };
      expect((await call())?.code).toBe(status.UNAUTHENTICATED);
      expect((await call("Bearer not-a-jwt"))?.code).toBe(status.UNAUTHENTICATED);
      expect((await call(`Bearer ${await jwt({ sub: "not-this-hop" })}`))?.code).toBe(status.PERMISSION_DENIED);
      expect(await call(`Bearer ${await jwt({ sub: "alice" })}`)).toBeNull();
      expect(await channelCalls(client)).toEqual({ started: 4, ended: 4 });
    } finally {
      client.close();
    }
  });
});

describe("the inbound token outside Authorization (RFC 6750 §2: one method; the token itself never leaves)", () => {
  it.each([
    ["a cookie", (md: Metadata, t: string) => md.set("cookie", `session=${t}`)],
    ["binary metadata", (md: Metadata, t: string) => md.set("x-context-bin", Buffer.from(`ctx:${t}`))],
  ])("makes meshClientInterceptor refuse a call carrying it in %s with INVALID_ARGUMENT, exchanging and sending nothing", async (_name, place) => {
    const { client, exchange } = meshClient();
    const subject = await jwt({ sub: "alice" });
    const md = new Metadata();
    md.set("authorization", `Bearer ${subject}`);
    place(md, subject);
    const before = reachedCallee;
    try {
      const err = await new Promise<ServiceError | null>((resolve) => client.GetJwks({}, md, (e: ServiceError | null) => resolve(e)));
      expect(err).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect(err?.metadata.get("oauth-error")).toEqual(["invalid_request"]);
      expect(reachedCallee).toBe(before);
      expect(exchange.exchanges).toBe(0);
    } finally {
      client.close();
    }
  });

  it.each([
    ["the query", (t: string) => [`/x?access_token=${t}`, {}] as const],
    ["a cookie", (t: string) => ["/x", { headers: { cookie: `session=${t}` } }] as const],
    ["Proxy-Authorization", (t: string) => ["/x", { headers: { "proxy-authorization": `Bearer ${t}` } }] as const],
  ])("makes meshFetch refuse a call carrying it in %s (MisplacedToken, invalid_request), exchanging and sending nothing", async (_name, place) => {
    let reached = 0;
    const http = createServer((_req, res) => {
      reached++;
      res.end("ok");
    });
    const port = await new Promise<number>((r) => http.listen(0, "127.0.0.1", () => r((http.address() as AddressInfo).port)));
    try {
      const exchange = new ExchangeCache({ exchanger: new exchangeService(address, credentials.createInsecure()), authorization: "Basic c3ZjLWE6cw==" });
      const f = meshFetch(exchange, { url: `http://127.0.0.1:${port}`, audience: "svc-b", scopes: ["b"] });
      const subject = await jwt({ sub: "alice" });
      const [path, init] = place(subject);
      const refused = f(path, subject, init);
      await expect(refused).rejects.toBeInstanceOf(MisplacedToken);
      await expect(refused).rejects.toMatchObject({ code: "invalid_request" });
      expect(reached).toBe(0);
      expect(exchange.exchanges).toBe(0);
    } finally {
      http.close();
    }
  });
});

describe("meshFetch", () => {
  it.each(["http://169.254.169.254/latest/meta-data/", "x/relative", "", "?q=1"])(
    "refuses a target that is not a path on the route's origin (%s) with invalid_request before any exchange: bad input mints and records nothing",
    async (path) => {
      const exchange = new ExchangeCache({ exchanger: new exchangeService(address, credentials.createInsecure()), authorization: "Basic c3ZjLWE6cw==" });
      const f = meshFetch(exchange, { url: "http://127.0.0.1:1", audience: "svc-b", scopes: ["b"] });
      const refused = f(path, await jwt({ sub: "alice" }));
      await expect(refused).rejects.toBeInstanceOf(OAuthError);
      await expect(refused).rejects.toMatchObject({ code: "invalid_request" });
      expect(exchange.exchanges).toBe(0);
    },
  );

  it.each([
    ["the policy refusing the hop", "not-this-hop", { code: "insufficient_scope", scope: ["b"] }],
    ["the subject token refused", "bad-subject", { code: "invalid_token" }],
  ])("rejects with what a resource server answers for %s (RFC 6750 §3.1), as the sidecar does", async (_name, sub, expected) => {
    const exchange = new ExchangeCache({ exchanger: new exchangeService(address, credentials.createInsecure()), authorization: "Basic c3ZjLWE6cw==" });
    const f = meshFetch(exchange, { url: "http://127.0.0.1:1", audience: "svc-b", scopes: ["b"] });
    await expect(f("/x", await jwt({ sub }))).rejects.toMatchObject(expected);
  });

  it("exchanges nothing for a call its caller already aborted: fetch would send nothing, so nothing is minted or recorded", async () => {
    const exchange = new ExchangeCache({ exchanger: new exchangeService(address, credentials.createInsecure()), authorization: "Basic c3ZjLWE6cw==" });
    const f = meshFetch(exchange, { url: "http://127.0.0.1:1", audience: "svc-b", scopes: ["b"] });
    const aborted = f("/x", await jwt({ sub: "alice" }), { signal: AbortSignal.abort() });
    await expect(aborted).rejects.toMatchObject({ name: "AbortError" });
    expect(exchange.exchanges).toBe(0);
  });

  it.each(["http://ingress/only-under-this-prefix", "http://ingress/?tenant=d", "http://u:p@ingress"])(
    "refuses a route url that is not a bare origin (%s) when made, rather than drop what follows the origin on every call",
    (url) => {
      const exchange = new ExchangeCache({ exchanger: new exchangeService(address, credentials.createInsecure()), authorization: "Basic c3ZjLWE6cw==" });
      expect(() => meshFetch(exchange, { url, audience: "svc-b", scopes: ["b"] })).toThrow(TypeError);
    },
  );
});
