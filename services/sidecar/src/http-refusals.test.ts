/**
 * The sidecar's own answers at the edge of HTTP, through a real sidecar over real sockets: what Node's HTTP server
 * refuses before any call exists (a malformed request, headers too large, a caller too slow) carries the JSON error
 * body and `Cache-Control: no-store` of the sidecar's other refusals, and an upstream that does not answer in time is
 * 504 with the Retry-After every other temporarily_unavailable answer of the sidecar carries (RFC 9110 §10.2.3).
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import type { RevocationState } from "@sts/jwt";
import type { ExchangeCache } from "@sts/mesh";
import { createLogger } from "@sts/telemetry";
import { parseRawAnswer, rawExchange } from "@sts/testkit";
import { startSidecar } from "./sidecar.js";
import type { RunningSidecar, SidecarDeps } from "./sidecar.js";

const ISSUER = "https://sts.test";
const NOT_REVOKED: RevocationState = { isRevoked: () => false, subjectRevokedAt: () => undefined, isKeyWithdrawn: () => false };

const sockets: Socket[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A sidecar on free loopback ports with `upstream`; the exchange is never reached by these tests. */
async function sidecar(options: {
  upstream?: string;
  idleTimeoutSeconds?: number;
  requestTimeoutMs?: number;
  inbound?: SidecarDeps["inbound"];
}): Promise<RunningSidecar> {
  const s = await startSidecar({
    config: {
      inbound: { host: "127.0.0.1", port: 0 },
      outbound: { host: "127.0.0.1", port: 0 },
      upstream: options.upstream ?? "http://127.0.0.1:9",
      upstream_idle_timeout: options.idleTimeoutSeconds ?? 30,
      routes: {},
    },
    audience: "svc-a",
    inbound: options.inbound ?? ({} as SidecarDeps["inbound"]),
    exchange: {} as ExchangeCache,
    logger: createLogger("test", { level: "silent" }),
    configPath: "sidecars.svc-a",
    ...(options.requestTimeoutMs !== undefined && { requestTimeoutMs: options.requestTimeoutMs }),
  });
  cleanups.push(() => s.close());
  return s;
}

describe("what Node's HTTP server refuses on its own, on either HTTP/1.1 listener", () => {
  it.each([
    ["inbound", "a malformed request line", "GARBAGE\r\n\r\n", 400, "malformed HTTP request"],
    ["outbound", "a malformed request line", "GARBAGE\r\n\r\n", 400, "malformed HTTP request"],
    [
      "inbound",
      "header fields past maxHeaderBytes",
      `GET /work HTTP/1.1\r\nHost: svc-a\r\nX-Padding: ${"x".repeat(20_000)}\r\n\r\n`,
      431,
      "request header fields too large",
    ],
    ["outbound", "headers still coming after headersTimeout", "POST /svc-b/work HTTP/1.1\r\nHost: svc-a\r\n", 408, "the request was not received in time"],
  ])("%s: answers %s with the JSON error body, not to be stored", async (listener, _what, request, status, description) => {
    const s = await sidecar({ requestTimeoutMs: 400 });
    const answer = await rawExchange(listener === "inbound" ? s.inboundPort : s.outboundPort, request, sockets);
    expect(parseRawAnswer(answer, ["cache-control", "connection", "content-type"])).toEqual({
      status,
      headers: { "cache-control": "no-store", connection: "close", "content-type": "application/json" },
      body: { error: "invalid_request", error_description: description },
    });
  });
});

describe("a workload that does not answer in time", () => {
  let signingKey: CryptoKey;
  let keys: ReturnType<typeof createLocalJWKSet>;
  let workload: Server;
  let workloadPort: number;

  beforeAll(async () => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    signingKey = pair.privateKey;
    keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" }] });
    // Takes every call and never answers.
    workload = createServer((req) => req.resume());
    workloadPort = await new Promise<number>((resolve) => workload.listen(0, "127.0.0.1", () => resolve((workload.address() as AddressInfo).port)));
  });

  afterAll(async () => {
    workload.closeAllConnections();
    await new Promise((r) => workload.close(r));
  });

  /** An access token for svc-a, signed by the key the sidecar trusts. */
  const accessToken = (): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: ISSUER, sub: "alice", aud: "svc-a", iat: now, exp: now + 300, jti: randomUUID(), client_id: "app", scope: "a" })
      .setProtectedHeader({ alg: "ES256", kid: "k1", typ: "at+jwt" })
      .sign(signingKey);
  };

  it("is 504 temporarily_unavailable with Retry-After, as the sidecar's 503s are", async () => {
    const s = await sidecar({
      upstream: `http://127.0.0.1:${workloadPort}`,
      idleTimeoutSeconds: 0.3,
      inbound: { issuer: ISSUER, keys, revocations: NOT_REVOKED },
    });
    const token = await accessToken();
    const r = await fetch(`http://127.0.0.1:${s.inboundPort}/work`, { headers: { authorization: `Bearer ${token}` } });
    expect([r.status, r.headers.get("retry-after"), r.headers.get("cache-control"), await r.json()]).toEqual([
      504,
      "1",
      "no-store",
      { error: "temporarily_unavailable", error_description: "the upstream did not answer in time" },
    ]);
  });

  it("answers a caller whose body is still coming after requestTimeout, its call forwarded and unanswered, 408 with the JSON body", async () => {
    const s = await sidecar({
      upstream: `http://127.0.0.1:${workloadPort}`,
      requestTimeoutMs: 400,
      inbound: { issuer: ISSUER, keys, revocations: NOT_REVOKED },
    });
    const head = `POST /work HTTP/1.1\r\nHost: svc-a\r\nAuthorization: Bearer ${await accessToken()}\r\nContent-Length: 100\r\n\r\n`;
    expect(parseRawAnswer(await rawExchange(s.inboundPort, `${head}abc`, sockets), ["cache-control"])).toEqual({
      status: 408,
      headers: { "cache-control": "no-store" },
      body: { error: "invalid_request", error_description: "the request was not received in time" },
    });
  });
});
