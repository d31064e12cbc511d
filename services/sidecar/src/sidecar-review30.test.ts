import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import { OAuthError } from "@sts/errors";
import { createClient, unary } from "@sts/grpc";
import { ExchangeCache } from "@sts/mesh";
import { loadExchangeProto, loadTokenProto } from "@sts/proto";
import type { ExchangeRequest__Output, ExchangeResponse } from "@sts/proto";
import type { RevocationState } from "@sts/jwt";
import { freePort } from "@sts/testkit";
import { createLogger } from "@sts/telemetry";
import { MAX_WAITING } from "./in-turn.js";
import { forward, forwardableHeaders } from "./proxy.js";
import { startSidecar } from "./sidecar.js";
import type { RunningSidecar } from "./sidecar.js";

/** Bounded wait: a step that never happens fails the test instead of hanging it. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms).unref())]);
}

const WAIT_MS = 5_000;

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

describe("forward() for a caller that left while its call was being admitted", () => {
  /** Paths the upstream received, in order. */
  const upstreamSaw: string[] = [];
  let upstream: Server;
  let front: Server;
  let frontPort: number;
  /** forward()'s outcome for each path the front server handled. */
  const forwards = new Map<string, Promise<Error | undefined>>();
  /** Told when the front server holds a `/left/…` call, and when it has seen its caller go. */
  const held = new Map<string, () => void>();
  const left = new Map<string, () => void>();

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      upstreamSaw.push(req.url ?? "");
      req.resume();
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
    const upstreamPort = await listen(upstream);
    // Stands for the sidecar: a `/left/…` call is held, as while its token is verified or exchanged, until its caller
    // has gone (its response closed), and only then handed to forward().
    front = createServer((req: IncomingMessage, res: ServerResponse) => {
      const path = req.url ?? "/";
      const target = new URL(path, `http://127.0.0.1:${upstreamPort}`);
      if (!path.startsWith("/left/")) {
        forwards.set(path, forward(req, res, target, forwardableHeaders(req.headers)));
        return;
      }
      held.get(path)?.();
      res.once("close", () => {
        forwards.set(path, forward(req, res, target, forwardableHeaders(req.headers)));
        left.get(path)?.();
      });
    });
    frontPort = await listen(front);
  });

  afterAll(async () => {
    for (const s of [front, upstream]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  /** Sends `head` on a connection of its own, then closes it once the front server has the request. */
  async function leaveAfterSending(path: string, head: string): Promise<void> {
    const holding = new Promise<void>((resolve) => held.set(path, resolve));
    const gone = new Promise<void>((resolve) => left.set(path, resolve));
    const socket = connect(frontPort, "127.0.0.1");
    socket.on("error", () => undefined);
    socket.write(head);
    await within(holding, WAIT_MS, "the front server got the request");
    socket.destroy();
    await within(gone, WAIT_MS, "the front server saw the caller go");
  }

  /** A GET through forward() that the caller waits for; what the upstream has received by its answer. */
  function get(path: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const socket = connect(frontPort, "127.0.0.1", () => socket.write(`GET ${path} HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n`));
      let text = "";
      socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
      socket.on("end", () => resolve(Number(text.slice(9, 12))));
      socket.on("error", reject);
    });
  }

  it("sends nothing upstream for a caller that is gone, and resolves (the workload never runs a call nobody waits for)", async () => {
    await leaveAfterSending("/left/get", "GET /left/get HTTP/1.1\r\nHost: front\r\n\r\n");
    // A call made after it, and answered: had the abandoned one been sent, the upstream would have had it first.
    expect(await get("/after/get")).toBe(200);
    expect(upstreamSaw).toEqual(["/after/get"]);
    await expect(within(forwards.get("/left/get")!, WAIT_MS, "forward() resolved")).resolves.toBeUndefined();
  });
});

describe("a sidecar that cannot vouch for a call now (temporarily_unavailable)", () => {
  const ISSUER = "https://sts.test";
  /** The exchanger's own hint, as one shedding load or without its policy service sends it. */
  const EXCHANGER_RETRY_AFTER = 7;
  let signingKey: CryptoKey;
  let keys: ReturnType<typeof createLocalJWKSet>;
  let exchanger: grpc.Server;
  let exchangerAddress: string;
  /** Whether the revocation copy is too old to trust (it then throws on every lookup). */
  let stale = false;
  const stalenessAware: RevocationState = {
    isRevoked: () => {
      if (stale) throw new OAuthError("temporarily_unavailable", "the revocation list is too old to trust");
      return false;
    },
    subjectRevokedAt: () => undefined,
    isKeyWithdrawn: () => false,
  };
  const cleanups: Array<() => Promise<void> | void> = [];

  beforeAll(async () => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    signingKey = pair.privateKey;
    keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" }] });
    exchanger = new grpc.Server();
    exchanger.addService(loadExchangeProto().sts.exchange.v1.ExchangeService.service, {
      Exchange: unary<ExchangeRequest__Output, ExchangeResponse>(() =>
        Promise.reject(new OAuthError("temporarily_unavailable", "the policy service is unavailable", { retryAfter: EXCHANGER_RETRY_AFTER })),
      ),
    });
    exchangerAddress = `127.0.0.1:${await new Promise<number>((resolve, reject) =>
      exchanger.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    )}`;
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    exchanger.forceShutdown();
  });

  const accessToken = (aud: string): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: ISSUER, sub: "alice", aud, iat: now, exp: now + 300, jti: randomUUID(), client_id: "end-user-app", scope: "a b" })
      .setProtectedHeader({ alg: "ES256", kid: "k1", typ: "at+jwt" })
      .sign(signingKey);
  };

  async function sidecarA(): Promise<RunningSidecar & { grpcInbound: number; grpcOutbound: number }> {
    const [grpcInbound, grpcOutbound] = [await freePort(), await freePort()];
    const client = createClient(loadExchangeProto().sts.exchange.v1.ExchangeService, exchangerAddress);
    const sidecar = await startSidecar({
      config: {
        inbound: { host: "127.0.0.1", port: 0 },
        outbound: { host: "127.0.0.1", port: 0 },
        grpc_inbound: { host: "127.0.0.1", port: grpcInbound },
        grpc_outbound: { host: "127.0.0.1", port: grpcOutbound },
        // Never reached: every call here is refused before it is forwarded.
        upstream: "http://127.0.0.1:9",
        upstream_idle_timeout: 30,
        routes: { "svc-b": { url: "http://127.0.0.1:9", audience: "svc-b", scopes: ["b"] } },
      },
      audience: "svc-a",
      inbound: { issuer: ISSUER, keys, revocations: stalenessAware },
      exchange: new ExchangeCache({ exchanger: client, authorization: "Basic c3ZjLWE6c2VjcmV0" }),
      logger: createLogger("test", { level: "silent" }),
      configPath: "sidecars.svc-a",
    });
    cleanups.push(
      () => client.close(),
      () => sidecar.close(),
    );
    return { ...sidecar, grpcInbound, grpcOutbound };
  }

  /** One gRPC call through a sidecar listener with `token`; the error it ends with. */
  async function grpcCall(port: number, authority: string, token: string): Promise<grpc.ServiceError> {
    const client = new (loadTokenProto().sts.token.v1.TokenService)(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      "grpc.default_authority": authority,
    });
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${token}`);
    const err = await new Promise<grpc.ServiceError | null>((resolve) => client.GetJwks({}, md, (e: grpc.ServiceError | null) => resolve(e)));
    client.close();
    if (!err) throw new Error("the call was not refused");
    return err;
  }

  it("passes the exchanger's retry-after on at the gRPC outbound listener (UNAVAILABLE), as at the HTTP one and in meshClientInterceptor", async () => {
    const sidecar = await sidecarA();
    const token = await accessToken("svc-a");
    const http = await fetch(`http://127.0.0.1:${sidecar.outboundPort}/svc-b/work`, { headers: { authorization: `Bearer ${token}` } });
    expect([http.status, http.headers.get("retry-after")]).toEqual([503, String(EXCHANGER_RETRY_AFTER)]);
    const err = await grpcCall(sidecar.grpcOutbound, "svc-b", token);
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.metadata.get("oauth-error")).toEqual(["temporarily_unavailable"]);
    expect(err.metadata.get("retry-after")).toEqual([String(EXCHANGER_RETRY_AFTER)]);
  });

  it("says when to retry at the gRPC inbound listener while its revocations are too old to trust (UNAVAILABLE), as at the HTTP one", async () => {
    const sidecar = await sidecarA();
    const token = await accessToken("svc-a");
    stale = true;
    try {
      const http = await fetch(`http://127.0.0.1:${sidecar.inboundPort}/work`, { headers: { authorization: `Bearer ${token}` } });
      expect([http.status, http.headers.get("retry-after")]).toEqual([503, "1"]);
      const err = await grpcCall(sidecar.grpcInbound, "svc-a", token);
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
      expect(err.metadata.get("oauth-error")).toEqual(["temporarily_unavailable"]);
      expect(err.metadata.get("retry-after")).toEqual(["1"]);
    } finally {
      stale = false;
    }
  });
});

describe("requests pipelined on one connection past what may wait there", () => {
  const ISSUER = "https://sts.test";
  const NOT_REVOKED: RevocationState = { isRevoked: () => false, subjectRevokedAt: () => undefined, isKeyWithdrawn: () => false };
  let signingKey: CryptoKey;
  let keys: ReturnType<typeof createLocalJWKSet>;
  /** Paths the workload received, in order; `/held` is answered only once released. */
  const workloadSaw: string[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let heldArrived!: () => void;
  const held = new Promise<void>((resolve) => (heldArrived = resolve));
  let workload: Server;
  let sidecar: RunningSidecar;

  beforeAll(async () => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    signingKey = pair.privateKey;
    keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" }] });
    workload = createServer((req, res) => {
      workloadSaw.push(req.url ?? "");
      req.resume();
      if (req.url !== "/held") return void res.writeHead(200).end("ok");
      heldArrived();
      void released.then(() => res.writeHead(200).end("ok"));
    });
    const port = await listen(workload);
    sidecar = await startSidecar({
      config: {
        inbound: { host: "127.0.0.1", port: 0 },
        outbound: { host: "127.0.0.1", port: 0 },
        upstream: `http://127.0.0.1:${port}`,
        upstream_idle_timeout: 30,
        routes: {},
      },
      audience: "svc-a",
      inbound: { issuer: ISSUER, keys, revocations: NOT_REVOKED },
      exchange: {} as ExchangeCache,
      logger: createLogger("test", { level: "silent" }),
      configPath: "sidecars.svc-a",
    });
  });

  afterAll(async () => {
    release();
    await sidecar.close();
    workload.closeAllConnections();
    await new Promise((r) => workload.close(r));
  });

  it("takes at most MAX_WAITING behind the call under way, turning the next away with 503 and Retry-After, then closes the connection", async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ iss: ISSUER, sub: "alice", aud: "svc-a", iat: now, exp: now + 300, jti: randomUUID(), client_id: "app", scope: "a" })
      .setProtectedHeader({ alg: "ES256", kid: "k1", typ: "at+jwt" })
      .sign(signingKey);
    const extra = MAX_WAITING + 8;
    const head = (path: string, last = false): string =>
      `GET ${path} HTTP/1.1\r\nHost: svc-a\r\nAuthorization: Bearer ${token}\r\n${last ? "Connection: close\r\n" : ""}\r\n`;
    const paths = Array.from({ length: extra }, (_, i) => `/p/${i}`);
    const socket = connect(sidecar.inboundPort, "127.0.0.1");
    socket.on("error", () => undefined);
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    // One write: the sidecar parses them all while the first is under way (the workload holds it).
    socket.write(head("/held") + paths.map((p, i) => head(p, i === paths.length - 1)).join(""));
    await within(held, WAIT_MS, "the workload got /held");
    release();
    await within(closed, WAIT_MS, "the sidecar closed the connection");
    const statuses = [...text.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]));
    // Never more forwarded than may wait, and every call forwarded was answered, in order, before the one turned away.
    expect(workloadSaw).toEqual(["/held", ...paths.slice(0, MAX_WAITING)]);
    expect(statuses).toEqual([...Array<number>(1 + MAX_WAITING).fill(200), 503]);
    const turnedAway = text.slice(text.lastIndexOf("HTTP/1.1 503 "));
    expect(turnedAway).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(turnedAway).toMatch(/\r\nconnection: close\r\n/i);
    expect(turnedAway).toContain('"error":"temporarily_unavailable"');
  });
});
