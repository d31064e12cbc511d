import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { connect } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { loadWorkloadApiProto } from "@sts/proto";
import { createLogger } from "@sts/telemetry";
import { makeTestCa, startWorkloadApiServer, svidResponse, waitFor } from "@sts/testkit";
import type { IssueOptions, SvidFiles, TestCa, WorkloadApiServer } from "@sts/testkit";
import { createClient } from "./client.js";
import { openGrpcCredentials } from "./open-credentials.js";
import { startGrpcServer } from "./server.js";
import type { GrpcCredentials } from "./tls.js";
import { requireSpiffeId } from "./tls.js";
import { DEFAULT_WORKLOAD_API_BACKOFF, X509SvidSource } from "./workload-api.js";

const ID = "spiffe://mesh.test/ns/mesh-sts/sa/issuer";
const DAY = 86_400_000;

let dir: string;
let ca: TestCa;
let otherCa: TestCa;
const svid = {} as Record<"first" | "rotated" | "expired" | "foreign" | "client", SvidFiles>;
const cleanups: Array<() => unknown> = [];

const issue = (name: string, options?: IssueOptions): SvidFiles => ({ ...ca.issue(name, ID, options), ca_file: ca.ca_file, spiffeId: ID });
/** An SVID valid from a minute ago until `ms` from now. */
const validFor = (name: string, ms: number): SvidFiles =>
  issue(name, { validity: { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + ms) } });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-grpc-wl-"));
  ca = makeTestCa(dir, "mesh-ca");
  svid.first = issue("first");
  // A shorter validity than the first's two days, so that the rotation shows in not_after too.
  svid.rotated = validFor("rotated", DAY);
  svid.expired = issue("expired", { validity: { notBefore: new Date(Date.now() - 3 * DAY), notAfter: new Date(Date.now() - DAY) } });
  svid.client = { ...ca.issue("client", "spiffe://mesh.test/ns/mesh-sts/sa/test"), ca_file: ca.ca_file, spiffeId: "spiffe://mesh.test/ns/mesh-sts/sa/test" };
  // Signed by another CA, but sent with this one's bundle: it does not chain.
  otherCa = makeTestCa(dir, "other-ca");
  svid.foreign = { ...otherCa.issue("foreign", ID), ca_file: ca.ca_file, spiffeId: ID };
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

let sockets = 0;
const socketPath = (): string => join(dir, `agent-${++sockets}.sock`);

const agent = async (initial?: SvidFiles): Promise<WorkloadApiServer> => {
  const server = await startWorkloadApiServer(socketPath(), initial && svidResponse(initial));
  cleanups.push(() => server.stop());
  return server;
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** An agent whose FetchX509SVID is `answer`, counting the streams opened and cancelled. */
const rawAgent = async (answer: (call: grpc.ServerWritableStream<unknown, unknown>) => void) => {
  let opened = 0;
  let cancelled = 0;
  const path = socketPath();
  const raw = new grpc.Server();
  raw.addService(loadWorkloadApiProto().SpiffeWorkloadAPI.service, {
    FetchX509SVID: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      opened++;
      call.on("cancelled", () => cancelled++);
      answer(call);
    },
  });
  await new Promise<void>((resolve, reject) => raw.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  cleanups.push(() => raw.forceShutdown());
  return { socket: `unix://${path}`, opened: () => opened, cancelled: () => cancelled };
};

/** A logger whose JSON lines land in `lines`. */
const capturedLogger = () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  return { logger: createLogger("test", { destination }), lines };
};

/** grpc_tls with the Workload API on `socket`, the peer named `self` checked by SPIFFE ID. */
const open = async (socket: string, startup_timeout = 5) => {
  const { logger, lines } = capturedLogger();
  const creds = await openGrpcCredentials({ workload_api: { socket, startup_timeout }, require_client_cert: true, spiffe_ids: { self: ID } }, logger);
  cleanups.push(() => creds.close());
  return { creds, lines };
};

const WHO_AM_I = {
  path: "/test.Peer/WhoAmI",
  requestStream: false,
  responseStream: false,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
} as const;

/** Calls the test servers hold unanswered (Hang), answered at cleanup. */
const hanging = new Set<() => void>();

/** The test service: WhoAmI answers with the fingerprint of the caller's certificate; Hang never answers, a call under way. */
const PEER_SERVICE = {
  definition: { WhoAmI: WHO_AM_I, Hang: { ...WHO_AM_I, path: "/test.Peer/Hang" } },
  implementation: {
    WhoAmI: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
      callback(null, Buffer.from(call.getAuthContext().sslPeerCertificate?.fingerprint256 ?? "none")),
    Hang: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      hanging.add(() => callback(null, Buffer.alloc(0)));
    },
  },
};

/** A server on `creds` serving the test service. */
const serve = async ({ server: credentials }: Pick<GrpcCredentials, "server">): Promise<number> => {
  const server = new grpc.Server();
  server.addService(PEER_SERVICE.definition, PEER_SERVICE.implementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", credentials, (err, p) => (err ? reject(err) : resolve(p))));
  cleanups.push(() => {
    for (const answer of hanging) answer();
    hanging.clear();
    server.forceShutdown();
  });
  return port;
};

/** A unary call of `method` with an empty request over `client`, answered with the bytes the server sent. */
const callOver = (client: grpc.Client, method: string, deadlineMs = 3000): Promise<Buffer> =>
  new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      method,
      WHO_AM_I.requestSerialize,
      WHO_AM_I.responseDeserialize,
      Buffer.alloc(0),
      { deadline: Date.now() + deadlineMs },
      (err, value) => (err ? reject(err) : resolve(value ?? Buffer.alloc(0))),
    ),
  );

/** The whole server's grpc.health.v1 status over `client`'s channel (an empty request asks for service ""). */
const healthOver = async (client: grpc.Client): Promise<string> =>
  // HealthCheckResponse { status = 1 }: SERVING; 2: NOT_SERVING.
  (await callOver(client, "/grpc.health.v1.Health/Check"))[1] === 1 ? "SERVING" : "NOT_SERVING";

/** The fingerprint of the certificate `client`'s connection presented, as the server saw it. */
const whoAmI = async (client: grpc.Client, deadlineMs?: number): Promise<string> => (await callOver(client, WHO_AM_I.path, deadlineMs)).toString();

/** Over a new connection dialled with `creds.channelTo("self")`: the fingerprint of the certificate it presented. */
const presentedByChannel = (creds: GrpcCredentials, port: number): Promise<string> => {
  // A pool of its own: otherwise grpc-js would hand back the connection an earlier client opened.
  const client = new grpc.Client(`127.0.0.1:${port}`, creds.channelTo("self"), { "grpc.use_local_subchannel_pool": 1 });
  return whoAmI(client, 5000).finally(() => client.close());
};

/** The certificate the server on `port` presents to a new TLS connection (as the test's client, its SPIFFE ID checked). */
const served = (port: number): Promise<X509Certificate> =>
  new Promise((resolve, reject) => {
    const socket = connect(
      {
        host: "127.0.0.1",
        port,
        servername: "localhost",
        ALPNProtocols: ["h2"],
        ca: readFileSync(svid.client.ca_file),
        cert: readFileSync(svid.client.cert_file),
        key: readFileSync(svid.client.key_file),
        checkServerIdentity: requireSpiffeId(ID),
      },
      () => {
        const cert = socket.getPeerX509Certificate();
        socket.destroy();
        if (cert) resolve(cert);
        else reject(new Error("no certificate"));
      },
    );
    socket.on("error", reject);
  });

const certOf = (files: SvidFiles): X509Certificate => new X509Certificate(readFileSync(files.cert_file));

/** Neither PEM nor DER of any SVID's key appears in `lines`. */
const expectNoKeyMaterial = (lines: readonly string[]): void => {
  const text = lines.join("\n");
  expect(text).not.toMatch(/PRIVATE KEY/);
  for (const files of Object.values(svid)) {
    const der = createPrivateKey(readFileSync(files.key_file)).export({ format: "der", type: "pkcs8" });
    expect(text).not.toContain(der.toString("base64").slice(0, 40));
    expect(text).not.toContain(der.toString("hex").slice(0, 40));
  }
};

describe("openGrpcCredentials with grpc_tls.workload_api", () => {
  it("serves and dials with the agent's SVID, and applies a pushed rotation to new connections of servers and channels", async () => {
    const server = await agent(svid.first);
    const { creds, lines } = await open(server.socket);
    const port = await serve(creds);
    expect((await served(port)).serialNumber).toBe(certOf(svid.first).serialNumber);
    expect(await presentedByChannel(creds, port)).toBe(certOf(svid.first).fingerprint256);

    server.push(svidResponse(svid.rotated));
    await waitFor(async () => (await served(port)).serialNumber === certOf(svid.rotated).serialNumber, {
      timeoutMs: 5000,
      message: "the rotated SVID was never served",
    });
    expect((await served(port)).validTo).toBe(certOf(svid.rotated).validTo);
    expect(await presentedByChannel(creds, port)).toBe(certOf(svid.rotated).fingerprint256);
    // One stream carried both: the rotation was pushed, not fetched again.
    expect(server.accepted()).toBe(1);

    const applied = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.msg === "grpc_tls.workload_api: X.509-SVID applied");
    expect(applied.map(({ spiffe_id, not_after }) => ({ spiffe_id, not_after }))).toEqual([
      { spiffe_id: ID, not_after: new Date(certOf(svid.first).validTo).toISOString() },
      { spiffe_id: ID, not_after: new Date(certOf(svid.rotated).validTo).toISOString() },
    ]);
    expectNoKeyMaterial(lines);
  });

  it.each([
    ["expired", "expired", /x509_svid is not usable \(the leaf expired at /],
    ["not chaining to the bundle", "foreign", /x509_svid is not usable \(the leaf is not signed by any valid certificate of the bundle\)/],
  ] as const)("keeps the SVID in use when the agent sends one %s, says why, and keeps serving", async (_, which, reason) => {
    const server = await agent(svid.first);
    const { creds, lines } = await open(server.socket);
    const port = await serve(creds);
    server.push(svidResponse(svid[which]));
    await waitFor(() => lines.some((line) => line.includes("X.509-SVID refused; the one in use stays")), { timeoutMs: 5000, message: "no refusal logged" });
    const refusal = JSON.parse(lines.find((line) => line.includes("refused")) ?? "{}") as { reason?: string; level?: number };
    expect(refusal.reason).toMatch(reason);
    expect(refusal.level).toBe(40);
    expect((await served(port)).serialNumber).toBe(certOf(svid.first).serialNumber);
    expect(await presentedByChannel(creds, port)).toBe(certOf(svid.first).fingerprint256);
    expectNoKeyMaterial(lines);
  });

  it("accepts and dials no new connection while the agent has redacted the SVID, until it sends the next", async () => {
    const server = await agent(svid.first);
    const { creds, lines } = await open(server.socket);
    const port = await serve(creds);
    server.push({ svids: [] });
    await waitFor(() => lines.some((line) => line.includes("X.509-SVID redacted by the agent")), { timeoutMs: 5000, message: "no redaction logged" });
    await expect(served(port)).rejects.toThrow();
    await expect(presentedByChannel(creds, port)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });

    server.push(svidResponse(svid.rotated));
    await waitFor(async () => (await served(port).catch(() => undefined))?.serialNumber === certOf(svid.rotated).serialNumber, {
      timeoutMs: 5000,
      message: "the next SVID was never served",
    });
    expect(await presentedByChannel(creds, port)).toBe(certOf(svid.rotated).fingerprint256);
  });

  it("fails within startup_timeout, naming grpc_tls.workload_api, when the agent never answers", async () => {
    const silent = await agent();
    const { logger } = capturedLogger();
    const started = Date.now();
    // A second: time enough for the stream to reach the agent on a loaded machine, so that the one stream shows.
    // Only the startup timer writes this message ("within 1 s", from the configured value), and a timer that never
    // fired would leave the call pending past the test's own timeout: the rejection itself shows the timeout worked.
    await expect(openGrpcCredentials({ workload_api: { socket: silent.socket, startup_timeout: 1 }, require_client_cert: true }, logger)).rejects.toThrow(
      /^grpc_tls\.workload_api: no X\.509-SVID from unix:\/\/.* within 1 s \(no answer\); without an identity the service does not start$/,
    );
    // Nor did it give up early (a timer in the wrong unit): a lower bound, which a slow machine cannot break. Half of
    // it, as the event loop's clock the timer starts from may lag Date.now() a little.
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(silent.accepted()).toBe(1);
  });

  it("closes the agent's stream on close(), and opens it no more", async () => {
    const raw = await rawAgent((call) => call.write(svidResponse(svid.first)));
    const { creds } = await open(raw.socket);
    expect([raw.opened(), raw.cancelled()]).toEqual([1, 0]);
    creds.close();
    await waitFor(() => raw.cancelled() === 1, { timeoutMs: 5000, message: "the stream was never closed" });
    // Past the latest first retry (initialMs; a retry waits between half of it and all of it).
    await sleep(DEFAULT_WORKLOAD_API_BACKOFF.initialMs + 300);
    expect(raw.opened()).toBe(1);
  });

  it("does not start, and closes the stream, when the first SVID is redacted before open() has resumed", async () => {
    // A first SVID and an empty response in one chunk are both handed on before the caller resumes; whether grpc-js
    // delivers them so depends on timing, so the source is made to resolve in that state.
    const stop = vi.fn();
    vi.spyOn(X509SvidSource, "open").mockResolvedValueOnce({ current: undefined, stop } as unknown as X509SvidSource);
    cleanups.push(() => vi.restoreAllMocks());
    const { logger } = capturedLogger();
    await expect(openGrpcCredentials({ workload_api: { socket: "unix:///nowhere", startup_timeout: 5 }, require_client_cert: true }, logger)).rejects.toThrow(
      /^grpc_tls\.workload_api: the agent redacted the X\.509-SVID as soon as it sent it; without an identity the service does not start$/,
    );
    expect(stop).toHaveBeenCalledOnce();
  });

  it("logs a response that only changes the trust bundle as a bundle update, not as a new SVID", async () => {
    const server = await agent(svid.first);
    const { lines } = await open(server.socket);
    const first = svidResponse(svid.first).svids?.[0];
    const bundle = Buffer.concat([new X509Certificate(readFileSync(ca.ca_file)).raw, new X509Certificate(readFileSync(otherCa.ca_file)).raw]);
    server.push({ svids: [{ ...first, bundle }] });
    await waitFor(() => lines.some((line) => line.includes("grpc_tls.workload_api: trust bundle updated")), {
      timeoutMs: 5000,
      message: "no bundle update logged",
    });
    expect(lines.filter((line) => line.includes("X.509-SVID applied"))).toHaveLength(1);
  });

  it("is lost for good only once the SVID in use is gone and the agent refused the stream for good", async () => {
    const server = await agent(svid.first);
    const { creds, lines } = await open(server.socket);
    // Refused for good with the SVID still valid: it stays in use until it expires, so a restart would only lose it.
    server.fail(grpc.status.INVALID_ARGUMENT, "malformed request");
    await waitFor(() => lines.some((line) => line.includes("refused the stream for good")), { timeoutMs: 5000, message: "the refusal was never noticed" });
    expect([creds.identity.held(), creds.lost()]).toEqual([true, false]);

    // Redacted while the stream still stands: withdrawn, but the agent can send the next.
    const other = await agent(svid.first);
    const second = await open(other.socket);
    other.push({ svids: [] });
    await waitFor(() => !second.creds.identity.held(), { timeoutMs: 5000, message: "the redaction was never applied" });
    expect(second.creds.lost()).toBe(false);
    other.fail(grpc.status.INVALID_ARGUMENT, "malformed request");
    await waitFor(() => second.creds.lost(), { timeoutMs: 5000, message: "never lost after the refusal for good" });
  });

  it("withdraws the identity when the SVID in use passes its notAfter with no new one: no new connection is accepted or dialled", async () => {
    const short = validFor("short", 2500);
    const server = await agent(short);
    const { creds, lines } = await open(server.socket);
    const port = await serve(creds);
    expect(await presentedByChannel(creds, port)).toBe(certOf(short).fingerprint256);
    expect(creds.identity.held()).toBe(true);
    await waitFor(() => lines.some((line) => line.includes("X.509-SVID expired with no new one from the agent")), {
      timeoutMs: 6000,
      message: "the expiry was never noticed",
    });
    expect(Date.now()).toBeGreaterThanOrEqual(new Date(certOf(short).validTo).getTime());
    const expired = JSON.parse(lines.find((line) => line.includes("X.509-SVID expired")) ?? "{}") as { level?: number; not_after?: string };
    expect(expired).toMatchObject({ level: 50, not_after: new Date(certOf(short).validTo).toISOString() });
    expect(creds.identity.held()).toBe(false);
    await expect(served(port)).rejects.toThrow();
    await expect(presentedByChannel(creds, port)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });

    server.push(svidResponse(svid.rotated));
    await waitFor(() => creds.identity.held(), { timeoutMs: 5000, message: "the next SVID never restored the identity" });
    expect(await presentedByChannel(creds, port)).toBe(certOf(svid.rotated).fingerprint256);
  });

  it("keeps the identity past the notAfter of an SVID a new one replaced, and through validities longer than a timer takes", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): number => warnings.push(warning.name);
    process.on("warning", onWarning);
    cleanups.push(() => process.off("warning", onWarning));
    const short = validFor("replaced", 1500);
    const server = await agent(short);
    const { creds, lines } = await open(server.socket);
    // 60 days: more than setTimeout's 24.8, which it would otherwise run at once.
    const long = validFor("long", 60 * DAY);
    server.push(svidResponse(long));
    await waitFor(() => lines.filter((line) => line.includes("X.509-SVID applied")).length === 2, { timeoutMs: 5000, message: "the new SVID never came" });
    await sleep(new Date(certOf(short).validTo).getTime() - Date.now() + 500);
    expect(creds.identity.held()).toBe(true);
    expect(lines.filter((line) => line.includes("expired"))).toEqual([]);
    expect(warnings).not.toContain("TimeoutOverflowWarning");
    const port = await serve(creds);
    expect(await presentedByChannel(creds, port)).toBe(certOf(long).fingerprint256);
  });
});

/** The error `promise` rejects with within `ms` (a call failed at once, not at its deadline); throws if it succeeds or runs on. */
const failure = async (promise: Promise<unknown>, ms: number): Promise<unknown> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms)));
  try {
    return await Promise.race([
      promise.then(
        () => Promise.reject(new Error("it succeeded")),
        (err: unknown) => err,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
};

/**
 * With `client`'s channel READY and a call under way over it (Hang), has `agent` redact the SVID: the error the call
 * ends with, within 5 s, far before its deadline.
 */
const redactedUnderWay = async (client: grpc.Client, agent: WorkloadApiServer): Promise<unknown> => {
  expect(client.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.READY);
  const underWay = callOver(client, "/test.Peer/Hang", 10_000);
  await waitFor(() => hanging.size === 1, { timeoutMs: 5000, message: "the call never reached the server" });
  agent.push({ svids: [] });
  return failure(underWay, 5000);
};

/** The peer's client: the test's identity from files, reconnecting quickly. */
const peerClient = (address: string): grpc.Client => {
  const files = svid.client;
  const credentials = grpc.credentials.createSsl(readFileSync(files.ca_file), readFileSync(files.key_file), readFileSync(files.cert_file), {
    checkServerIdentity: requireSpiffeId(ID),
  });
  const client = new grpc.Client(address, credentials, { "grpc.initial_reconnect_backoff_ms": 100, "grpc.max_reconnect_backoff_ms": 500 });
  cleanups.push(() => client.close());
  return client;
};

/** Waits until the call `attempt` makes succeeds, and returns its answer. */
const whenItWorks = <T>(attempt: () => Promise<T>): Promise<T> =>
  waitFor(() => attempt().catch(() => undefined), { timeoutMs: 5000, message: "calls never worked again" });

describe("startGrpcServer and createClient on a Workload API identity", () => {
  it("a server stops serving its open connections when the SVID is redacted: NOT_SERVING whatever setServing says; back with the next SVID", async () => {
    const server = await agent(svid.first);
    const { creds, lines } = await open(server.socket);
    const handle = await startGrpcServer({ port: 0, logger: capturedLogger().logger, credentials: creds.server, services: [PEER_SERVICE] });
    cleanups.push(() => handle.shutdown(100));
    handle.setServing(true);
    const peer = peerClient(handle.address);
    expect(await healthOver(peer)).toBe("SERVING");
    expect(await redactedUnderWay(peer, server)).toMatchObject({ code: expect.any(Number) as number });
    expect(lines.some((line) => line.includes("X.509-SVID redacted by the agent; the service reports NOT_SERVING"))).toBe(true);
    expect(handle.isServing()).toBe(false);
    // As NATS reconnecting would: the identity is still missing.
    handle.setServing(true);
    expect(handle.isServing()).toBe(false);
    // The connection the peer had open is gone, and no new one is accepted.
    await expect(healthOver(peer)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });

    server.push(svidResponse(svid.rotated));
    await waitFor(() => handle.isServing(), { timeoutMs: 5000, message: "health never went back to SERVING" });
    expect(await whenItWorks(() => healthOver(peer))).toBe("SERVING");
    // What the service says still counts.
    handle.setServing(false);
    expect(handle.isServing()).toBe(false);
    expect(await healthOver(peer)).toBe("NOT_SERVING");
  });

  it("a client fails its calls under way and those that follow when the SVID is redacted, though its server goes on; back with the next SVID", async () => {
    const server = await agent(svid.first);
    const { creds } = await open(server.socket);
    // A server whose own identity, from files, stays: only the client's is withdrawn.
    const files = svid.first;
    const port = await serve({
      server: grpc.ServerCredentials.createSsl(
        readFileSync(files.ca_file),
        [{ cert_chain: readFileSync(files.cert_file), private_key: readFileSync(files.key_file) }],
        true,
      ),
    });
    const client = createClient(grpc.Client, `127.0.0.1:${port}`, creds.channelTo("self"));
    cleanups.push(() => client.close());
    expect(await whoAmI(client)).toBe(certOf(svid.first).fingerprint256);
    expect(await redactedUnderWay(client, server)).toMatchObject({ code: grpc.status.UNAVAILABLE });
    await expect(whoAmI(client)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });

    server.push(svidResponse(svid.rotated));
    // A new connection: it presents the new SVID.
    expect(await whenItWorks(() => whoAmI(client))).toBe(certOf(svid.rotated).fingerprint256);
  });
});
