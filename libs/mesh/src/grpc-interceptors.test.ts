import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata, credentials, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { decodeJwt } from "jose";
import { OAuthError } from "@sts/errors";
import { statusFromOAuthError } from "@sts/grpc";
import { loadExchangeProto, loadTokenProto } from "@sts/proto";
import { ExchangeCache } from "./exchange-cache.js";
import { jwt, revocationState, startStandIns } from "./stand-ins.fixture.js";
import { EXCHANGE_FAILED, meshClientInterceptor, meshFetch } from "./grpc-interceptors.js";

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

/** One call through a client with the mesh interceptor, carrying `subject` as the inbound token; its error, if any. */
async function callWith(subject: string): Promise<ServiceError | null> {
  const exchange = new ExchangeCache({
    exchanger: new exchangeService(address, credentials.createInsecure()),
    authorization: "Basic c3ZjLWE6cw==",
    revocations,
  });
  const client = new tokenService(address, credentials.createInsecure(), {
    interceptors: [meshClientInterceptor(exchange, { audience: "svc-b", scopes: ["b"] })],
  });
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

  it("answers the exchanger refusing the inbound token as subject_token (invalid_request) with UNAUTHENTICATED", async () => {
    const err = await callWith(await jwt({ sub: "bad-subject" }));
    expect(err).toMatchObject({ code: status.UNAUTHENTICATED, details: "subject_token is not valid" });
    expect(err?.metadata.get("oauth-error")).toEqual(["invalid_request"]);
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

  it("still answers the policy refusing the hop with PERMISSION_DENIED", async () => {
    expect(await callWith(await jwt({ sub: "not-this-hop" }))).toMatchObject({ code: status.PERMISSION_DENIED, details: "svc-a may not call svc-b" });
  });

  it("lets a call with a good token through", async () => {
    expect(await callWith(await jwt({ sub: "alice" }))).toBeNull();
  });
});

describe("meshFetch", () => {
  it.each(["http://ingress/only-under-this-prefix", "http://ingress/?tenant=d", "http://u:p@ingress"])(
    "refuses a route url that is not a bare origin (%s) when made, rather than drop what follows the origin on every call",
    (url) => {
      const exchange = new ExchangeCache({ exchanger: new exchangeService(address, credentials.createInsecure()), authorization: "Basic c3ZjLWE6cw==" });
      expect(() => meshFetch(exchange, { url, audience: "svc-b", scopes: ["b"] })).toThrow(TypeError);
    },
  );
});
