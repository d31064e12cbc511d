import { X509Certificate, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect as tcpConnect } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { connect } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import { maxHeaderBytesFor } from "@sts/config";
import { invalidClient, unauthorizedClient } from "@sts/errors";
import { X509SvidStreams, createClient, openGrpcCredentials, unary } from "@sts/grpc";
import { ExchangeCache } from "@sts/mesh";
import { loadExchangeProto, loadTokenProto } from "@sts/proto";
import type { ExchangeRequest__Output, ExchangeResponse } from "@sts/proto";
import { startAdminServer } from "@sts/runtime";
import type { AdminServer } from "@sts/runtime";
import { freePort, makeTestCa, startWorkloadApiServer, svidResponse, waitFor } from "@sts/testkit";
import type { SvidFiles, WorkloadApiServer } from "@sts/testkit";
import { createLogger } from "@sts/telemetry";
import type { SidecarConfig } from "./config.js";
import { startSidecar } from "./sidecar.js";
import type { RunningSidecar, SidecarDeps } from "./sidecar.js";

const B_ID = "spiffe://mesh.test/svc-b";
let dir: string;
let svid: SvidFiles;
/** B's next SVID: a new key, the same ID. */
let rotated: SvidFiles;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-sidecar-"));
  const mesh = makeTestCa(dir, "mesh-ca");
  svid = { ...mesh.issue("svc-b", B_ID), ca_file: mesh.ca_file, spiffeId: B_ID };
  rotated = { ...mesh.issue("svc-b-2", B_ID), ca_file: mesh.ca_file, spiffeId: B_ID };
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A health listener (the admin server main.ts starts first) on a free loopback port, closed after the test. */
async function health(): Promise<AdminServer> {
  const h = await startAdminServer({ host: "127.0.0.1", port: 0 });
  cleanups.push(() => h.close());
  return h;
}

/** A stand-in SPIRE agent that answers nothing until the test pushes an SVID. */
async function silentAgent(name: string): Promise<WorkloadApiServer> {
  const agent = await startWorkloadApiServer(join(dir, `${name}.sock`));
  cleanups.push(() => agent.stop());
  return agent;
}

/** Status and body of one probe. */
async function probe(h: AdminServer, path: "/healthz" | "/readyz"): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${h.port}${path}`);
  return `${res.status} ${await res.text()}`;
}

/** A sidecar on free loopback ports; the token work is never reached by these tests. */
function deps(state: { ready: boolean; live: boolean }, tls?: SidecarConfig["tls"]): SidecarDeps {
  const config: SidecarConfig = {
    inbound: { host: "127.0.0.1", port: 0 },
    outbound: { host: "127.0.0.1", port: 0 },
    upstream: "http://127.0.0.1:9",
    upstream_idle_timeout: 30,
    routes: {},
    ...(tls && { tls }),
  };
  return {
    config,
    audience: "svc-b",
    inbound: {} as SidecarDeps["inbound"],
    exchange: {} as SidecarDeps["exchange"],
    ready: () => state.ready,
    live: () => state.live,
    logger: createLogger("test", { level: "silent" }),
    configPath: "sidecars.svc-b",
  };
}

describe("startSidecar and its health listener", () => {
  it("leaves /readyz 503 (and /healthz 200) while it waits for its first X.509-SVID, then answers with the sidecar's checks", async () => {
    const h = await health();
    const agent = await silentAgent("agent-late");
    const state = { ready: true, live: true };
    const starting = startSidecar(deps(state, { workload_api: { socket: agent.socket, startup_timeout: 10 } }));
    expect(await probe(h, "/healthz")).toBe("200 ok");
    expect(await probe(h, "/readyz")).toBe("503 not ready");

    agent.push(svidResponse(svid));
    const sidecar = await starting;
    cleanups.push(() => sidecar.close());
    // As main.ts does once start-up is over (@sts/runtime's startService).
    h.started(sidecar.checks);
    expect(await probe(h, "/readyz")).toBe("200 ok");
    expect(await probe(h, "/healthz")).toBe("200 ok");

    // NATS unreachable, or its grpc_tls identity gone: not ready, still live.
    state.ready = false;
    expect(await probe(h, "/readyz")).toBe("503 not ready");
    expect(await probe(h, "/healthz")).toBe("200 ok");
    state.ready = true;
    // Redacted by the agent: no identity to serve with, so not ready until the next one.
    agent.push({ svids: [] });
    await expect.poll(() => probe(h, "/readyz")).toBe("503 not ready");
    agent.push(svidResponse(svid));
    await expect.poll(() => probe(h, "/readyz")).toBe("200 ok");
    // Its grpc_tls identity lost for good: only a restart helps, and a sidecar that is not live is not ready either.
    state.live = false;
    expect(await probe(h, "/healthz")).toBe("503 not live");
    expect(await probe(h, "/readyz")).toBe("503 not ready");
  });

  it("fails its start, naming the setting, without its TLS files (fail closed): no checks are handed over, so never ready", async () => {
    const missing = join(dir, "missing.pem");
    const tls = { cert_file: missing, key_file: missing, ca_file: missing, reload_interval: 0 };
    await expect(startSidecar(deps({ ready: true, live: true }, tls))).rejects.toThrow(/sidecars\.svc-b\.tls/);
  });
});

/** The serial number of the certificate a TLS server on `port` presents to a new connection (B's own SVID as the client's). */
const presentedSerial = (port: number, ALPNProtocols?: string[]): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = connect(
      {
        host: "127.0.0.1",
        port,
        ca: readFileSync(svid.ca_file),
        cert: readFileSync(svid.cert_file),
        key: readFileSync(svid.key_file),
        checkServerIdentity: () => undefined,
        ...(ALPNProtocols && { ALPNProtocols }),
      },
      () => {
        const serial = socket.getPeerX509Certificate()?.serialNumber;
        socket.destroy();
        if (serial) resolve(serial);
        else reject(new Error("no certificate"));
      },
    );
    socket.on("error", reject);
  });

const serialOf = (files: SvidFiles): string => new X509Certificate(readFileSync(files.cert_file)).serialNumber;

describe("request header size on the HTTP/1.1 listeners", () => {
  /** Status line of a request to the inbound listener with no credential and one header of `bytes`. */
  async function statusWithHeaderOf(sidecar: RunningSidecar, bytes: number): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${sidecar.inboundPort}/work`, { headers: { "x-padding": "x".repeat(bytes) } });
    await res.arrayBuffer();
    return String(res.status);
  }

  it("takes an inbound token as large as a raised tokens.max_token_bytes lets the issuer mint, and answers 431 past its limit", async () => {
    const raised = await startSidecar({ ...deps({ ready: true, live: true }), maxHeaderBytes: maxHeaderBytesFor(32_768) });
    cleanups.push(() => raised.close());
    // Past the header limit, the missing credential is what is refused.
    expect(await statusWithHeaderOf(raised, 32_768)).toBe("401");
    const usual = await startSidecar(deps({ ready: true, live: true }));
    cleanups.push(() => usual.close());
    expect(await statusWithHeaderOf(usual, 20_000)).toBe("431");
  });
});

describe("a sidecar whose grpc_tls and tls name one agent's socket", () => {
  it("opens one FetchX509SVID stream, and a rotation and a redaction reach both its gRPC credentials and its listeners", async () => {
    const agent = await startWorkloadApiServer(join(dir, "agent-both.sock"), svidResponse(svid));
    cleanups.push(() => agent.stop());
    const workloadApi = { socket: agent.socket, startup_timeout: 5 };
    const logger = createLogger("test", { level: "silent" });
    // As main.ts wires them: grpc_tls first (the exchanger channel needs it), then the listeners with tls.
    const svidStreams = new X509SvidStreams();
    const grpcTls = await openGrpcCredentials({ workload_api: workloadApi, require_client_cert: true }, logger, svidStreams);
    cleanups.push(async () => grpcTls.close());
    const sidecar = await startSidecar({
      ...deps({ ready: true, live: true }, { workload_api: workloadApi }),
      ready: () => grpcTls.identity.held(),
      svidStreams,
    });
    cleanups.push(() => sidecar.close());
    const grpcServer = new grpc.Server();
    const grpcPort = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync("127.0.0.1:0", grpcTls.server, (err, port) => (err ? reject(err) : resolve(port))),
    );
    cleanups.push(async () => grpcServer.forceShutdown());
    const presented = async (): Promise<string[]> => [await presentedSerial(grpcPort, ["h2"]), await presentedSerial(sidecar.inboundPort)];
    expect(await presented()).toEqual([serialOf(svid), serialOf(svid)]);
    expect(agent.accepted()).toBe(1);

    agent.push(svidResponse(rotated));
    await waitFor(async () => (await presented()).every((serial) => serial === serialOf(rotated)), {
      timeoutMs: 5000,
      message: "the rotated SVID did not reach both grpc_tls and the inbound listener",
    });
    agent.push({ svids: [] });
    await waitFor(() => !grpcTls.identity.held() && !sidecar.checks.ready(), { timeoutMs: 5000, message: "the redaction did not reach both" });
    await expect(presentedSerial(sidecar.inboundPort)).rejects.toThrow();
    // The rotation was pushed on the one stream, not fetched again by a second.
    expect(agent.accepted()).toBe(1);
  });
});

/** Bounded wait: a step that never happens fails the test instead of hanging it. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms).unref())]);
}

const WAIT_MS = 5_000;
const ISSUER = "https://sts.test";
const NOT_REVOKED = { isRevoked: () => false, subjectRevokedAt: () => undefined, isKeyWithdrawn: () => false };
const basic = (id: string, secret: string): string => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
/** The sidecar's client credentials the stand-in exchanger accepts, and two it refuses as the real one does. */
const CREDENTIALS = {
  good: basic("svc-a", "right-secret"),
  rotated: basic("svc-a", "rotated-secret-0001"),
  noGrant: basic("svc-no-grant", "right-secret"),
} as const;

/** One request a test server parsed, with its whole body. */
interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A loopback HTTP server that records each request (body included) and answers with `answer`, closed after the file. */
async function recordingServer(
  answer: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      seen.push({ url: req.url ?? "", headers: req.headers, body });
      answer(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

/** What came back on one raw connection, and whether the sidecar closed it. */
interface RawOutcome {
  text: string;
  closed: Promise<void>;
  socket: ReturnType<typeof tcpConnect>;
}

/** Opens a connection to `port` and sends `head` (a request's head, or more); what comes back accumulates in `text`. */
function rawConnection(port: number, head: string): RawOutcome {
  const socket = tcpConnect(port, "127.0.0.1");
  // Queued until connected, and ahead of anything the test writes next.
  socket.write(head);
  const outcome: RawOutcome = { text: "", socket, closed: new Promise((resolve) => socket.once("close", () => resolve())) };
  socket.on("data", (d: Buffer) => (outcome.text += d.toString("latin1")));
  // The sidecar may reset a connection whose body it will not read: an answer, then ECONNRESET or EPIPE, is the point.
  socket.on("error", () => undefined);
  return outcome;
}

/** Lines the sidecar logged, parsed. */
function capturedLogger(): { logger: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>>; raw: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString("utf8"));
      callback();
    },
  });
  return {
    logger: createLogger("test", { level: "warn", destination }),
    raw: () => chunks.join(""),
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe("a sidecar verifying and exchanging real tokens", () => {
  let signingKey: CryptoKey;
  let keys: ReturnType<typeof createLocalJWKSet>;
  /** The workload behind the inbound listener: echoes what it got. */
  let workload: Awaited<ReturnType<typeof recordingServer>>;
  /** Route svc-b's destination: redirects as the paths say. */
  let destB: Awaited<ReturnType<typeof recordingServer>>;
  /** Route svc-c's destination, which a redirect from B must never make the workload reach. */
  let destC: Awaited<ReturnType<typeof recordingServer>>;
  let exchanger: grpc.Server;
  let exchangerAddress: string;

  beforeAll(async () => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    signingKey = pair.privateKey;
    keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" }] });
    workload = await recordingServer((req, res, body) =>
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ url: req.url, body })),
    );
    destB = await recordingServer((req, res) => {
      if (req.url === "/redirect-c") res.writeHead(307, { location: "/svc-c/admin/delete-all" }).end();
      else if (req.url === "/redirect-login") res.writeHead(307, { location: "/login" }).end();
      else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ at: "b", url: req.url }));
    });
    destC = await recordingServer((req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ at: "c", url: req.url })));
    // Stands for the exchanger: it refuses a wrong secret with invalid_client (client-auth's checkSecret) and a client
    // without the token-exchange grant with unauthorized_client, as services/exchanger does, over real gRPC.
    exchanger = new grpc.Server();
    exchanger.addService(loadExchangeProto().sts.exchange.v1.ExchangeService.service, {
      Exchange: unary<ExchangeRequest__Output, ExchangeResponse>(async (req) => {
        if (req.client?.authorization === CREDENTIALS.rotated) throw invalidClient("client authentication failed");
        if (req.client?.authorization === CREDENTIALS.noGrant) throw unauthorizedClient("client may not use token exchange");
        return {
          access_token: `exchanged-for-${req.audience.join(" ")}-${randomUUID()}`,
          issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
          token_type: "Bearer",
          expires_in: "300",
          scope: req.scope,
        };
      }),
    });
    exchangerAddress = `127.0.0.1:${await new Promise<number>((resolve, reject) =>
      exchanger.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    )}`;
  });

  afterAll(async () => {
    exchanger.forceShutdown();
    for (const s of [workload, destB, destC]) {
      s.server.closeAllConnections();
      await new Promise((r) => s.server.close(r));
    }
  });

  /** A token of ours for `aud`, as the issuer signs them (RFC 9068). */
  const accessToken = (aud = "svc-a"): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: ISSUER, sub: "alice", aud, iat: now, exp: now + 300, jti: randomUUID(), client_id: "end-user-app", scope: "a b" })
      .setProtectedHeader({ alg: "ES256", kid: "k1", typ: "at+jwt" })
      .sign(signingKey);
  };

  /** Starts svc-a's sidecar on free loopback ports (routes svc-b and svc-c), exchanging with `credentials`; closed after the test. */
  async function sidecarA(
    options: {
      credentials?: string;
      tls?: SidecarConfig["tls"];
      requestTimeoutMs?: number;
      logger?: ReturnType<typeof createLogger>;
      grpcOutbound?: number;
    } = {},
  ): Promise<RunningSidecar> {
    const client = createClient(loadExchangeProto().sts.exchange.v1.ExchangeService, exchangerAddress);
    cleanups.push(async () => client.close());
    const sidecar = await startSidecar({
      config: {
        inbound: { host: "127.0.0.1", port: 0 },
        outbound: { host: "127.0.0.1", port: 0 },
        ...(options.grpcOutbound !== undefined && { grpc_outbound: { host: "127.0.0.1", port: options.grpcOutbound } }),
        upstream: workload.url,
        upstream_idle_timeout: 30,
        routes: {
          "svc-b": { url: destB.url, audience: "svc-b", scopes: ["b"] },
          "svc-c": { url: destC.url, audience: "svc-c", scopes: ["a"] },
        },
        ...(options.tls && { tls: options.tls }),
      },
      audience: "svc-a",
      inbound: { issuer: ISSUER, keys, revocations: NOT_REVOKED },
      exchange: new ExchangeCache({ exchanger: client, authorization: options.credentials ?? CREDENTIALS.good }),
      logger: options.logger ?? createLogger("test", { level: "silent" }),
      configPath: "sidecars.svc-a",
      ...(options.requestTimeoutMs !== undefined && { requestTimeoutMs: options.requestTimeoutMs }),
    });
    cleanups.push(() => sidecar.close());
    return sidecar;
  }

  describe("the inbound listener", () => {
    it("sends no 100 Continue to a caller whose token is refused: its 401 with Connection: close, then the connection closed (RFC 9110 §10.1.1)", async () => {
      const sidecar = await sidecarA();
      const before = workload.seen.length;
      const conn = rawConnection(
        sidecar.inboundPort,
        "POST /upload HTTP/1.1\r\nHost: svc-a\r\nAuthorization: Bearer not-a-token\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n",
      );
      await waitFor(() => conn.text.includes("\r\n\r\n"), { timeoutMs: WAIT_MS, message: "no answer" });
      expect(conn.text).toMatch(/^HTTP\/1\.1 401 /);
      await within(conn.closed, WAIT_MS, "the sidecar closed the connection");
      expect(conn.text).not.toMatch(/100 Continue/i);
      expect(conn.text).toMatch(/\r\nconnection: close\r\n/i);
      expect(conn.text).toMatch(/\r\nwww-authenticate: Bearer error="invalid_token"/i);
      expect(workload.seen.length).toBe(before);
    });

    it("sends 100 Continue once the token verifies, then forwards the body it invited", async () => {
      const sidecar = await sidecarA();
      const token = await accessToken();
      const conn = rawConnection(
        sidecar.inboundPort,
        `POST /upload HTTP/1.1\r\nHost: svc-a\r\nAuthorization: Bearer ${token}\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n`,
      );
      await waitFor(() => conn.text.includes("\r\n\r\n"), { timeoutMs: WAIT_MS, message: "no interim answer" });
      expect(conn.text).toBe("HTTP/1.1 100 Continue\r\n\r\n");
      conn.socket.write("hello");
      await within(conn.closed, WAIT_MS, "the answer ended");
      expect(conn.text).toMatch(/\r\n\r\nHTTP\/1\.1 200 /);
      expect(conn.text).toContain('{"url":"/upload","body":"hello"}');
    });

    it("closes the connection of a refused caller still sending its body, instead of reading it to the end", async () => {
      const sidecar = await sidecarA();
      const total = 256 * 1024 * 1024;
      const conn = rawConnection(sidecar.inboundPort, `POST /upload HTTP/1.1\r\nHost: svc-a\r\nContent-Length: ${total}\r\n\r\n`);
      const chunk = Buffer.alloc(256 * 1024, "x");
      let written = 0;
      let closed = false;
      void conn.closed.then(() => (closed = true));
      const sending = (async () => {
        while (!closed && written < total) {
          written += chunk.length;
          if (!conn.socket.write(chunk)) await new Promise<void>((resolve) => (conn.socket.once("drain", resolve), void conn.closed.then(resolve)));
        }
      })();
      await within(conn.closed, WAIT_MS, "the sidecar closed the connection");
      await sending;
      expect(written).toBeLessThan(total);
      expect(conn.text).toMatch(/^HTTP\/1\.1 401 /);
      expect(conn.text).toMatch(/\r\nconnection: close\r\n/i);
    });

    it("answers 501 to a body in a transfer coding other than chunked, rather than pass on coded bytes as the content (RFC 9112 §6.1)", async () => {
      const sidecar = await sidecarA();
      const token = await accessToken();
      const before = workload.seen.length;
      const conn = rawConnection(
        sidecar.inboundPort,
        `POST /upload HTTP/1.1\r\nHost: svc-a\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
      );
      await waitFor(() => conn.text.includes("\r\n\r\n"), { timeoutMs: WAIT_MS, message: "no answer" });
      expect(conn.text).toMatch(/^HTTP\/1\.1 501 /);
      expect(workload.seen.length).toBe(before);
    });

    it("gives up a request whose body is still coming after its request timeout (408)", async () => {
      const sidecar = await sidecarA({ requestTimeoutMs: 400 });
      const token = await accessToken();
      const conn = rawConnection(
        sidecar.inboundPort,
        `POST /slow HTTP/1.1\r\nHost: svc-a\r\nAuthorization: Bearer ${token}\r\nContent-Length: 1000\r\n\r\nabc`,
      );
      await within(conn.closed, WAIT_MS, "the sidecar gave the request up");
      expect(conn.text).toMatch(/^HTTP\/1\.1 408 /);
    });

    it("tells the workload the peer's address and the scheme it came over, never what the caller wrote in Forwarded, X-Forwarded-* or X-Real-IP", async () => {
      const sidecar = await sidecarA();
      const forged = {
        forwarded: "for=10.0.0.1;proto=https;host=admin.internal",
        "x-forwarded-for": "10.0.0.1",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "admin.internal",
        "x-forwarded-port": "443",
        "x-real-ip": "10.0.0.1",
      };
      const r = await fetch(`http://127.0.0.1:${sidecar.inboundPort}/who`, { headers: { authorization: `Bearer ${await accessToken()}`, ...forged } });
      expect(r.status).toBe(200);
      const seen = workload.seen.at(-1)?.headers ?? {};
      expect(seen["x-forwarded-for"]).toBe("127.0.0.1");
      expect(seen["x-forwarded-proto"]).toBe("http");
      for (const name of ["forwarded", "x-forwarded-host", "x-forwarded-port", "x-real-ip"]) expect(seen).not.toHaveProperty(name);
    });

    it("passes on none of the names frameworks read as the client's address or scheme before X-Forwarded-For/-Proto (X-Client-IP, X-Forwarded-Ssl)", async () => {
      const sidecar = await sidecarA();
      const forged = { "x-client-ip": "10.0.0.1", "true-client-ip": "10.0.0.1", "x-forwarded-ssl": "on", "x-forwarded-prefix": "/admin" };
      const r = await fetch(`http://127.0.0.1:${sidecar.inboundPort}/who`, { headers: { authorization: `Bearer ${await accessToken()}`, ...forged } });
      expect(r.status).toBe(200);
      const seen = workload.seen.at(-1)?.headers ?? {};
      expect(seen).toMatchObject({ "x-forwarded-for": "127.0.0.1", "x-forwarded-proto": "http" });
      for (const name of Object.keys(forged)) expect(seen).not.toHaveProperty(name);
    });

    it("says https to the workload for a call that came over mutual TLS", async () => {
      const sidecar = await sidecarA({ tls: { cert_file: svid.cert_file, key_file: svid.key_file, ca_file: svid.ca_file, reload_interval: 0 } });
      const token = await accessToken();
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpsRequest(
          {
            host: "127.0.0.1",
            port: sidecar.inboundPort,
            path: "/who",
            headers: { authorization: `Bearer ${token}`, "x-forwarded-proto": "http", "x-forwarded-for": "10.0.0.1" },
            ca: readFileSync(svid.ca_file),
            cert: readFileSync(svid.cert_file),
            key: readFileSync(svid.key_file),
            checkServerIdentity: () => undefined,
            agent: false,
          },
          (res) => res.resume().on("end", () => resolve(res.statusCode ?? 0)),
        );
        req.on("error", reject);
        req.end();
      });
      expect(status).toBe(200);
      expect(workload.seen.at(-1)?.headers).toMatchObject({ "x-forwarded-for": "127.0.0.1", "x-forwarded-proto": "https" });
    });
  });

  describe("where a bearer token may travel (RFC 6750 §2)", () => {
    it("refuses at the inbound listener a second token in the access_token query parameter with 400 invalid_request, forwarding nothing", async () => {
      const sidecar = await sidecarA();
      const token = await accessToken();
      const before = workload.seen.length;
      for (const query of ["access_token=forged", "a=1&access%5Ftoken=forged"]) {
        const r = await fetch(`http://127.0.0.1:${sidecar.inboundPort}/work?${query}`, { headers: { authorization: `Bearer ${token}` } });
        expect(r.status).toBe(400);
        expect(r.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_request"/);
        expect(((await r.json()) as { error: string }).error).toBe("invalid_request");
      }
      expect(workload.seen.length).toBe(before);
    });

    it("refuses a call with two Authorization fields (RFC 6750 §3.1) with 400 invalid_request at either listener, forwarding nothing", async () => {
      const sidecar = await sidecarA();
      const [first, second] = [await accessToken(), await accessToken()];
      const [workloadBefore, destBefore] = [workload.seen.length, destB.seen.length];
      for (const [port, path] of [
        [sidecar.inboundPort, "/work"],
        [sidecar.outboundPort, "/svc-b/work"],
      ] as const) {
        const conn = rawConnection(
          port,
          `GET ${path} HTTP/1.1\r\nHost: svc-a\r\nAuthorization: Bearer ${first}\r\nAuthorization: Bearer ${second}\r\nConnection: close\r\n\r\n`,
        );
        await within(conn.closed, WAIT_MS, "the answer ended");
        expect(conn.text).toMatch(/^HTTP\/1\.1 400 /);
        expect(conn.text).toMatch(/\r\nwww-authenticate: Bearer error="invalid_request"/i);
        expect(conn.text).toContain('"error":"invalid_request"');
      }
      expect(workload.seen.length).toBe(workloadBefore);
      expect(destB.seen.length).toBe(destBefore);
    });

    it("treats Proxy-Authorization as this hop's own (RFC 9110 §11.7.2): never passed on, inbound or outbound", async () => {
      const sidecar = await sidecarA();
      const token = await accessToken();
      const r = await fetch(`http://127.0.0.1:${sidecar.inboundPort}/work`, {
        headers: { authorization: `Bearer ${token}`, "proxy-authorization": "Bearer other" },
      });
      expect(r.status).toBe(200);
      expect(workload.seen.at(-1)?.headers).not.toHaveProperty("proxy-authorization");
      const out = await fetch(`http://127.0.0.1:${sidecar.outboundPort}/svc-b/work`, {
        headers: { authorization: `Bearer ${token}`, "proxy-authorization": `Bearer ${token}` },
      });
      expect(out.status).toBe(200);
      expect(destB.seen.at(-1)?.headers).not.toHaveProperty("proxy-authorization");
      expect(JSON.stringify(destB.seen.at(-1))).not.toContain(token);
    });

    it.each([
      ["a cookie", "/svc-b/work", (t: string) => ({ cookie: `session=${t}` })],
      ["a header a framework propagates", "/svc-b/work", (t: string) => ({ "x-original-authorization": `Bearer ${t}` })],
      ["the query", "/svc-b/work?access_token=TOKEN", () => ({})],
      ["the query, percent-encoded", "/svc-b/work?t=PCT", () => ({})],
    ])("refuses at the outbound listener a call carrying the inbound token in %s with 400 invalid_request, sending nothing", async (_name, path, extra) => {
      const sidecar = await sidecarA();
      const token = await accessToken();
      const pct = [...token].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join("");
      const before = destB.seen.length;
      const r = await fetch(`http://127.0.0.1:${sidecar.outboundPort}${path.replace("TOKEN", token).replace("PCT", pct)}`, {
        headers: { authorization: `Bearer ${token}`, ...extra(token) },
      });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: string }).error).toBe("invalid_request");
      expect(destB.seen.length).toBe(before);
    });

    it("refuses at the gRPC outbound listener a call whose metadata carries the inbound token with INVALID_ARGUMENT, sending nothing", async () => {
      const grpcOutbound = await freePort();
      await sidecarA({ grpcOutbound });
      const token = await accessToken();
      const before = destB.seen.length;
      const client = new (loadTokenProto().sts.token.v1.TokenService)(`127.0.0.1:${grpcOutbound}`, grpc.credentials.createInsecure(), {
        "grpc.default_authority": "svc-b",
      });
      const md = new grpc.Metadata();
      md.set("authorization", `Bearer ${token}`);
      md.set("x-original-authorization", `Bearer ${token}`);
      const err = await new Promise<grpc.ServiceError | null>((resolve) => client.GetJwks({}, md, (e: grpc.ServiceError | null) => resolve(e)));
      client.close();
      expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(destB.seen.length).toBe(before);
    });
  });

  describe("the outbound listener", () => {
    it("keeps a destination's redirect on its own route: B's Location /svc-c/... cannot make the workload call route svc-c (proxy_redirect)", async () => {
      const sidecar = await sidecarA();
      const token = await accessToken();
      const outbound = `http://127.0.0.1:${sidecar.outboundPort}`;
      const manual = await fetch(`${outbound}/svc-b/redirect-c`, { headers: { authorization: `Bearer ${token}` }, redirect: "manual" });
      expect(manual.status).toBe(307);
      expect(manual.headers.get("location")).toBe("/svc-b/svc-c/admin/delete-all");
      // As a workload's fetch follows it: same origin, Authorization kept, and still B that answers.
      const beforeC = destC.seen.length;
      const followed = await fetch(`${outbound}/svc-b/redirect-c`, { headers: { authorization: `Bearer ${token}` } });
      expect(await followed.json()).toEqual({ at: "b", url: "/svc-c/admin/delete-all" });
      expect(destC.seen.length).toBe(beforeC);
      // A legitimate relative redirect now works through the sidecar.
      const login = await fetch(`${outbound}/svc-b/redirect-login`, { headers: { authorization: `Bearer ${token}` } });
      expect(login.status).toBe(200);
      expect(login.url).toBe(`${outbound}/svc-b/login`);
      expect(await login.json()).toEqual({ at: "b", url: "/login" });
    });

    it("routes a call to a route's root with a query (`/svc-b?q`) by its path, not as a route named `svc-b?q`", async () => {
      const sidecar = await sidecarA();
      const token = await accessToken();
      const before = destB.seen.length;
      const r = await fetch(`http://127.0.0.1:${sidecar.outboundPort}/svc-b?page=2`, { headers: { authorization: `Bearer ${token}` } });
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ at: "b", url: "/?page=2" });
      expect(destB.seen.length).toBe(before + 1);
    });

    it("sends no 100 Continue to a call it refuses, and closes its connection", async () => {
      const sidecar = await sidecarA();
      const conn = rawConnection(
        sidecar.outboundPort,
        "POST /svc-b/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n",
      );
      await waitFor(() => conn.text.includes("\r\n\r\n"), { timeoutMs: WAIT_MS, message: "no answer" });
      expect(conn.text).toMatch(/^HTTP\/1\.1 401 /);
      await within(conn.closed, WAIT_MS, "the sidecar closed the connection");
      expect(conn.text).not.toMatch(/100 Continue/i);
    });

    it.each([
      ["a wrong or rotated secret (invalid_client)", "rotated", "invalid_client"],
      ["a client without the token-exchange grant (unauthorized_client)", "noGrant", "unauthorized_client"],
    ] as const)(
      "answers 502 bad_gateway, never the caller's 401 or 403, when the exchanger refuses the sidecar's own client for %s, and logs it once",
      async (_name, credentials, code) => {
        const { logger, lines, raw } = capturedLogger();
        const grpcOutbound = await freePort();
        const sidecar = await sidecarA({ credentials: CREDENTIALS[credentials], logger, grpcOutbound });
        const token = await accessToken();
        for (let i = 0; i < 3; i++) {
          const r = await fetch(`http://127.0.0.1:${sidecar.outboundPort}/svc-b/work`, { headers: { authorization: `Bearer ${token}` } });
          expect(r.status).toBe(502);
          expect(r.headers.get("www-authenticate")).toBeNull();
          expect(await r.json()).toEqual({ error: "bad_gateway" });
        }
        // gRPC alike: INTERNAL, as meshClientInterceptor answers (a retry cannot help).
        const client = new (loadTokenProto().sts.token.v1.TokenService)(`127.0.0.1:${grpcOutbound}`, grpc.credentials.createInsecure(), {
          "grpc.default_authority": "svc-b",
        });
        const md = new grpc.Metadata();
        md.set("authorization", `Bearer ${token}`);
        const grpcError = await new Promise<grpc.ServiceError | null>((resolve) => client.GetJwks({}, md, (err: grpc.ServiceError | null) => resolve(err)));
        client.close();
        expect(grpcError?.code).toBe(grpc.status.INTERNAL);
        const errors = lines().filter((l) => l.level === 50);
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatchObject({ error: code, route: "svc-b" });
        expect(raw()).not.toContain(token);
        expect(raw()).not.toContain(CREDENTIALS[credentials].slice("Basic ".length));
      },
    );
  });
});
