import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Metadata, credentials, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { decodeJwt } from "jose";
import { unavailable } from "@sts/errors";
import { loadExchangeProto, loadTokenProto } from "@sts/proto";
import { ExchangeCache } from "./exchange-cache.js";
import { jwt, revocationState, startStandIns } from "./stand-ins.fixture.js";
import { meshClientInterceptor, meshFetch } from "./grpc-interceptors.js";

/** Token ids revoked so far: the test's revocation state, which the exchanger below also honours for subject tokens. */
const { revoked, revocations } = revocationState();
/** The bearer tokens the TokenService below was called with. */
const sentToService: string[] = [];

const jtiOf = (token: string): string => decodeJwt(token).jti as string;

let standIns: Awaited<ReturnType<typeof startStandIns>>;
let address: string;
const exchangeService = loadExchangeProto().sts.exchange.v1.ExchangeService;
const tokenService = loadTokenProto().sts.token.v1.TokenService;

beforeAll(async () => {
  // The exchanger refuses a revoked subject token as the real one answers.
  standIns = await startStandIns({
    refusal: (request) => (revoked.has(jtiOf(request.subject_token)) ? { code: status.INVALID_ARGUMENT, details: "the subject_token is revoked" } : undefined),
    onCallee: (metadata) => void sentToService.push(String(metadata.get("authorization")[0]).slice("Bearer ".length)),
  });
  address = standIns.address;
});

afterAll(() => {
  standIns?.stop();
});

function cache(withRevocations: boolean): ExchangeCache {
  const exchanger = new exchangeService(address, credentials.createInsecure());
  return new ExchangeCache({ exchanger, authorization: "Basic c3ZjLWE6cw==", ...(withRevocations && { revocations }) });
}

describe("ExchangeCache's memory", () => {
  it("drops expired tokens as new ones come in, rather than holding them until the cap", async () => {
    let now = Date.now();
    const exchanger = new exchangeService(address, credentials.createInsecure());
    const exchange = new ExchangeCache({ exchanger, authorization: "Basic c3ZjLWE6cw==", nowMs: () => now });
    for (const sub of ["u1", "u2", "u3"]) await exchange.tokenFor(await jwt({ sub }), "svc-b", ["b"]);
    expect(exchange.size).toBe(3);
    const first = await exchange.tokenFor(await jwt({ sub: "u1" }), "svc-b", ["b"]);
    now = first.expiresAt + 1;
    await exchange.tokenFor(await jwt({ sub: "u4" }), "svc-b", ["b"]);
    expect(exchange.size).toBe(1);
  });
});

describe("ExchangeCache and revocation", () => {
  it("hands out the cached token until it is revoked, then exchanges anew", async () => {
    const exchange = cache(true);
    const subject = await jwt({ sub: "alice" });
    const first = await exchange.tokenFor(subject, "svc-b", ["b"]);
    expect(await exchange.tokenFor(subject, "svc-b", ["b"])).toBe(first);
    expect(exchange.exchanges).toBe(1);
    revoked.add(jtiOf(first.accessToken));
    const next = await exchange.tokenFor(subject, "svc-b", ["b"]);
    expect(exchange.exchanges).toBe(2);
    expect(next.accessToken).not.toBe(first.accessToken);
  });

  it("hands out a cached opaque token until its jti (from the exchanger's answer) is revoked, then exchanges anew", async () => {
    const exchange = cache(true);
    const subject = await jwt({ sub: "alice" });
    const first = await exchange.tokenFor(subject, "opaque:svc-b", ["b"]);
    expect(first.accessToken).toMatch(/^ot_/);
    expect(await exchange.tokenFor(subject, "opaque:svc-b", ["b"])).toBe(first);
    expect(exchange.exchanges).toBe(1);
    revoked.add(first.jti as string);
    const next = await exchange.tokenFor(subject, "opaque:svc-b", ["b"]);
    expect(exchange.exchanges).toBe(2);
    expect(next.accessToken).not.toBe(first.accessToken);
  });

  it("drops the cached token once the subject token it was made from is revoked, and refuses it (invalid_token) without asking the exchanger", async () => {
    const exchange = cache(true);
    const subject = await jwt({ sub: "alice" });
    await exchange.tokenFor(subject, "svc-b", ["b"]);
    revoked.add(jtiOf(subject));
    await expect(exchange.tokenFor(subject, "svc-b", ["b"])).rejects.toMatchObject({ code: "invalid_token", description: "the inbound token is revoked" });
    expect(exchange.exchanges).toBe(1);
    // Never cached, the same: refused before any exchange.
    await expect(exchange.tokenFor(subject, "svc-c", ["c"])).rejects.toMatchObject({ code: "invalid_token" });
    expect(exchange.exchanges).toBe(1);
  });

  it("refuses an inbound token that is not a JWT (invalid_token) without asking the exchanger, given revocations", async () => {
    const exchange = cache(true);
    await expect(exchange.tokenFor("not-a-jwt", "svc-b", ["b"])).rejects.toMatchObject({ code: "invalid_token", description: "malformed bearer token" });
    expect(exchange.exchanges).toBe(0);
  });

  it("drops the cached token once its subject is revoked after the subject token was issued, refusing it, and keeps it for another subject", async () => {
    const iat = Math.floor(Date.now() / 1000);
    const signedOut = new Map<string, number>();
    const subjects = { ...revocations, subjectRevokedAt: (iss: string, sub: string) => (iss === "https://sts" ? signedOut.get(sub) : undefined) };
    const exchanger = new exchangeService(address, credentials.createInsecure());
    const exchange = new ExchangeCache({ exchanger, authorization: "Basic c3ZjLWE6cw==", revocations: subjects });
    const alice = await jwt({ iss: "https://sts", sub: "alice", iat });
    const bob = await jwt({ iss: "https://sts", sub: "bob", iat });
    const first = await exchange.tokenFor(alice, "svc-b", ["b"]);
    await exchange.tokenFor(bob, "svc-b", ["b"]);
    // Revoked before the subject token was issued: it still stands.
    signedOut.set("alice", iat - 1);
    expect(await exchange.tokenFor(alice, "svc-b", ["b"])).toBe(first);
    expect(exchange.exchanges).toBe(2);
    signedOut.set("alice", iat);
    await expect(exchange.tokenFor(alice, "svc-b", ["b"])).rejects.toMatchObject({ code: "invalid_token" });
    expect(exchange.exchanges).toBe(2);
    await exchange.tokenFor(bob, "svc-b", ["b"]);
    expect(exchange.exchanges).toBe(2);
  });

  it("fails closed when the revocation state cannot be trusted", async () => {
    const exchanger = new exchangeService(address, credentials.createInsecure());
    const stale = (): boolean => {
      throw unavailable("revocation state is out of date (NATS unreachable)");
    };
    const exchange = new ExchangeCache({
      exchanger,
      authorization: "Basic c3ZjLWE6cw==",
      revocations: { isRevoked: stale, subjectRevokedAt: () => undefined, isKeyWithdrawn: () => false },
    });
    const subject = await jwt({ sub: "alice" });
    await expect(exchange.tokenFor(subject, "svc-b", ["b"])).rejects.toMatchObject({ code: "temporarily_unavailable" });
    expect(exchange.exchanges).toBe(0);
  });

  it("lets meshFetch check revocation on a cache that does not", async () => {
    const seen: string[] = [];
    const http = createServer((req, res) => {
      seen.push((req.headers.authorization ?? "").slice("Bearer ".length));
      res.end("ok");
    });
    const port = await new Promise<number>((r) => http.listen(0, "127.0.0.1", () => r((http.address() as AddressInfo).port)));
    try {
      const f = meshFetch(cache(false), { url: `http://127.0.0.1:${port}`, audience: "svc-b", scopes: ["b"] }, { revocations });
      const subject = await jwt({ sub: "alice" });
      expect((await f("/x", subject)).status).toBe(200);
      revoked.add(jtiOf(seen[0]!));
      expect((await f("/x", subject)).status).toBe(200);
      expect(seen).toHaveLength(2);
      expect(seen[1]).not.toBe(seen[0]);
    } finally {
      http.close();
    }
  });

  it("lets the grpc-js client interceptor check revocation on a cache that does not", async () => {
    const client = new tokenService(address, credentials.createInsecure(), {
      interceptors: [meshClientInterceptor(cache(false), { audience: "svc-b", scopes: ["b"] }, { revocations })],
    });
    const subject = await jwt({ sub: "alice" });
    const callOnce = (): Promise<ServiceError | null> => {
      const md = new Metadata();
      md.set("authorization", `Bearer ${subject}`);
      return new Promise((resolve) => client.GetJwks({}, md, (err) => resolve(err)));
    };
    const before = sentToService.length;
    expect(await callOnce()).toBeNull();
    revoked.add(jtiOf(sentToService.at(-1)!));
    expect(await callOnce()).toBeNull();
    const sent = sentToService.slice(before);
    expect(sent).toHaveLength(2);
    expect(sent[1]).not.toBe(sent[0]);
    client.close();
  });
});
