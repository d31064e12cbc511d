import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { connect } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { loadWorkloadApiProto } from "@sts/proto";
import { createLogger } from "@sts/telemetry";
import { makeTestCa, startWorkloadApiServer, svidResponse, waitFor } from "@sts/testkit";
import type { SvidFiles, WorkloadApiServer } from "@sts/testkit";
import { openGrpcCredentials } from "./open-credentials.js";
import type { GrpcCredentials } from "./tls.js";
import { requireSpiffeId } from "./tls.js";

const ID = "spiffe://mesh.test/ns/mesh-sts/sa/issuer";
const DAY = 86_400_000;

let dir: string;
const svid = {} as Record<"first" | "rotated" | "expired" | "foreign" | "client", SvidFiles>;
const cleanups: Array<() => unknown> = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-grpc-wl-"));
  const ca = makeTestCa(dir, "mesh-ca");
  const issue = (name: string, options?: Parameters<typeof ca.issue>[2]): SvidFiles => ({ ...ca.issue(name, ID, options), ca_file: ca.ca_file, spiffeId: ID });
  svid.first = issue("first");
  // A shorter validity than the first's two days, so that the rotation shows in not_after too.
  svid.rotated = issue("rotated", { validity: { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + DAY) } });
  svid.expired = issue("expired", { validity: { notBefore: new Date(Date.now() - 3 * DAY), notAfter: new Date(Date.now() - DAY) } });
  svid.client = { ...ca.issue("client", "spiffe://mesh.test/ns/mesh-sts/sa/test"), ca_file: ca.ca_file, spiffeId: "spiffe://mesh.test/ns/mesh-sts/sa/test" };
  // Signed by another CA, but sent with this one's bundle: it does not chain.
  const other = makeTestCa(dir, "other-ca");
  svid.foreign = { ...other.issue("foreign", ID), ca_file: ca.ca_file, spiffeId: ID };
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

/** A server on `creds` that answers each call with the fingerprint of the caller's certificate. */
const serve = async (creds: GrpcCredentials): Promise<number> => {
  const server = new grpc.Server();
  server.addService(
    { WhoAmI: WHO_AM_I },
    {
      WhoAmI: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
        callback(null, Buffer.from(call.getAuthContext().sslPeerCertificate?.fingerprint256 ?? "none")),
    },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", creds.server, (err, p) => (err ? reject(err) : resolve(p))));
  cleanups.push(() => server.forceShutdown());
  return port;
};

/** Over a new connection dialled with `creds.channelTo("self")`: the fingerprint of the certificate it presented. */
const presentedByChannel = (creds: GrpcCredentials, port: number): Promise<string> => {
  // A pool of its own: otherwise grpc-js would hand back the connection an earlier client opened.
  const client = new grpc.Client(`127.0.0.1:${port}`, creds.channelTo("self"), { "grpc.use_local_subchannel_pool": 1 });
  return new Promise<string>((resolve, reject) =>
    client.makeUnaryRequest(
      WHO_AM_I.path,
      WHO_AM_I.requestSerialize,
      WHO_AM_I.responseDeserialize,
      Buffer.alloc(0),
      { deadline: Date.now() + 5000 },
      (err, value) => (err ? reject(err) : resolve(value?.toString() ?? "")),
    ),
  ).finally(() => client.close());
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
    await expect(openGrpcCredentials({ workload_api: { socket: silent.socket, startup_timeout: 0.3 }, require_client_cert: true }, logger)).rejects.toThrow(
      /^grpc_tls\.workload_api: no X\.509-SVID from unix:\/\/.* within 0\.3 s \(no answer\); without an identity the service does not start$/,
    );
    expect(Date.now() - started).toBeLessThan(3000);
    expect(silent.accepted()).toBe(1);
  });

  it("closes the agent's stream on close(), and opens it no more", async () => {
    let opened = 0;
    let cancelled = 0;
    const path = socketPath();
    const raw = new grpc.Server();
    raw.addService(loadWorkloadApiProto().SpiffeWorkloadAPI.service, {
      FetchX509SVID: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        opened++;
        call.on("cancelled", () => cancelled++);
        call.write(svidResponse(svid.first));
      },
    });
    await new Promise<void>((resolve, reject) => raw.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
    cleanups.push(() => raw.forceShutdown());
    const { creds } = await open(`unix://${path}`);
    expect([opened, cancelled]).toEqual([1, 0]);
    creds.close();
    await waitFor(() => cancelled === 1, { timeoutMs: 5000, message: "the stream was never closed" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(opened).toBe(1);
  });
});
