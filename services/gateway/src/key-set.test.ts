/**
 * The JWKS and the discovery document are public: however many requests want the issuer's key set while it is being
 * fetched, the issuer gets one call. Through a real gateway and a real gRPC stand-in for the issuer that holds every
 * GetJwks call until the test lets it go (as an issuer that hangs would, up to the gateway's deadline).
 */
import { connect } from "node:net";
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, startGrpcServer, unary } from "@sts/grpc";
import type { GrpcServerHandle } from "@sts/grpc";
import { loadTokenProto } from "@sts/proto";
import type { TokenServiceClient } from "@sts/proto";
import { createLogger } from "@sts/telemetry";
import { waitFor } from "@sts/testkit";
import { testGateway } from "./gateway.fixture.js";
import { KeySetCache } from "./key-set.js";

const JWKS = JSON.stringify({ keys: [{ kty: "EC", kid: "k1", alg: "ES256" }] });

let getJwksCalls = 0;
let userInfoCalls = 0;
/** Set once the test lets the held GetJwks calls go: from then on they are answered at once. */
let released = false;
const held: Array<() => void> = [];
let issuer: GrpcServerHandle;
let client: TokenServiceClient;
let gateway: Awaited<ReturnType<typeof testGateway>>;
const sockets: Socket[] = [];

beforeAll(async () => {
  const proto = loadTokenProto().sts.token.v1.TokenService;
  const GetJwks = unary(async () => {
    getJwksCalls++;
    if (!released) await new Promise<void>((release) => held.push(release));
    return { jwks_json: JWKS };
  });
  const UserInfo = unary(async () => {
    userInfoCalls++;
    return { claims_json: '{"sub":"alice"}' };
  });
  issuer = await startGrpcServer({
    port: 0,
    services: [{ definition: proto.service, implementation: { GetJwks, UserInfo } }],
    logger: createLogger("i", { level: "silent" }),
  });
  issuer.setServing(true);
  client = createClient(proto, issuer.address);
  // A deadline far longer than the test: a held call is not given up while the test runs.
  gateway = await testGateway({ token: client, deadlineMs: 120_000 });
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  released = true;
  held.splice(0).forEach((release) => release());
  await gateway.close();
  client.close();
  await issuer.shutdown(0);
});

describe("the issuer's key set at the public edge", () => {
  it("is fetched once for every JWKS and discovery request that wants it while the fetch is under way", async () => {
    const wanting = ["/oauth2/jwks", "/.well-known/openid-configuration"].flatMap((path) => Array.from({ length: 8 }, () => path));
    // Pipelined on one connection: Node hands the gateway each request as it parses it, in order, so once the last
    // one (a UserInfo call, which needs no key set) reaches the issuer, every request before it has asked for the key set.
    const text = [
      ...wanting.map((path) => `GET ${path} HTTP/1.1\r\nHost: sts\r\n\r\n`),
      "GET /oauth2/userinfo HTTP/1.1\r\nHost: sts\r\nAuthorization: Bearer at\r\n\r\n",
    ].join("");
    const socket = connect(gateway.port, "127.0.0.1", () => socket.write(text));
    sockets.push(socket);
    let received = "";
    socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
    await waitFor(() => userInfoCalls === 1, { timeoutMs: 10_000, message: "the marker request never reached the issuer" });
    released = true;
    held.splice(0).forEach((release) => release());
    await waitFor(() => (received.match(/HTTP\/1\.1 \d{3} /g)?.length ?? 0) === wanting.length + 1, {
      timeoutMs: 10_000,
      message: "not every request was answered",
    });
    expect(received.match(/HTTP\/1\.1 \d{3} /g)).toEqual(Array.from({ length: wanting.length + 1 }, () => "HTTP/1.1 200 "));
    expect(getJwksCalls).toBe(1);
  });
});

describe("KeySetCache", () => {
  it("serves what it fetched until it is older than its age, then fetches once for everyone asking", async () => {
    let now = 1_000;
    const answers: Array<(body: string) => void> = [];
    const cache = new KeySetCache(
      () => new Promise<string>((resolve) => answers.push(resolve)),
      5_000,
      0,
      () => now,
    );
    const first = [cache.current(), cache.current()];
    expect(answers).toHaveLength(1);
    answers[0]?.("v1");
    expect(await Promise.all(first)).toEqual(["v1", "v1"]);
    now += 5_000;
    expect(await cache.current()).toBe("v1");
    now += 1;
    const stale = [cache.current(), cache.current(), cache.current()];
    expect(answers).toHaveLength(2);
    // Meanwhile the one it had is still there for whoever can use a stale one (the discovery document).
    expect(cache.last).toBe("v1");
    answers[1]?.("v2");
    expect(await Promise.all(stale)).toEqual(["v2", "v2", "v2"]);
  });

  it("keeps no failure: the next request after a failed fetch asks again", async () => {
    let calls = 0;
    const cache = new KeySetCache(() => (++calls === 1 ? Promise.reject(new Error("issuer down")) : Promise.resolve("v1")), 5_000);
    await expect(cache.current()).rejects.toThrow("issuer down");
    expect(await cache.current()).toBe("v1");
    expect(calls).toBe(2);
  });
});

describe("KeySetCache.currentOrStale", () => {
  it("answers the last key set while fetches fail, for at most staleMs past its age, then the failure", async () => {
    let now = 1_000;
    let down = false;
    const cache = new KeySetCache(
      () => (down ? Promise.reject(new Error("issuer down")) : Promise.resolve("v1")),
      5_000,
      60_000,
      () => now,
    );
    expect(await cache.currentOrStale(1_000)).toEqual({ body: "v1", stale: false });
    down = true;
    now += 5_000 + 60_000;
    expect(await cache.currentOrStale(1_000)).toEqual({ body: "v1", stale: true });
    now += 1;
    await expect(cache.currentOrStale(1_000)).rejects.toThrow("issuer down");
    down = false;
    expect(await cache.currentOrStale(1_000)).toEqual({ body: "v1", stale: false });
  });

  it("has nothing stale to give before its first fetch, nor with staleMs 0", async () => {
    const failing = () => Promise.reject(new Error("issuer down"));
    await expect(new KeySetCache(failing, 5_000, 60_000).currentOrStale(1_000)).rejects.toThrow("issuer down");
    let calls = 0;
    let now = 1_000;
    const once = new KeySetCache(
      () => (++calls === 1 ? Promise.resolve("v1") : failing()),
      5_000,
      0,
      () => now,
    );
    expect(await once.currentOrStale(1_000)).toEqual({ body: "v1", stale: false });
    now += 5_001;
    await expect(once.currentOrStale(1_000)).rejects.toThrow("issuer down");
  });
});

describe("KeySetCache.currentOrStale with an issuer that hangs", () => {
  it("answers the last key set once waitMs passed, and the fetch that goes on is served once it answers", async () => {
    let now = 1_000;
    let answer: ((body: string) => void) | undefined;
    let calls = 0;
    const cache = new KeySetCache(
      () => (++calls === 1 ? Promise.resolve("v1") : new Promise<string>((resolve) => (answer = resolve))),
      5_000,
      60_000,
      () => now,
    );
    expect(await cache.currentOrStale(20)).toEqual({ body: "v1", stale: false });
    now += 6_000;
    expect(await cache.currentOrStale(20)).toEqual({ body: "v1", stale: true });
    expect(calls).toBe(2);
    answer?.("v2");
    await waitFor(async () => (await cache.currentOrStale(20)).body === "v2", { message: "the fetch that went on was never served" });
    expect(calls).toBe(2);
  });
});
