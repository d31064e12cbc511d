/**
 * grpc_tls from the SPIFFE Workload API: every service of the stack (real
 * processes) takes its X.509-SVID from its own stand-in SPIRE agent, named by
 * SPIFFE_ENDPOINT_SOCKET as SPIRE sets it in each pod, and the services check
 * each other by SPIFFE ID. The agents then push a rotation (new connections
 * see it, no restart) and SVIDs that fail the checks (the one in use stays),
 * and redact SVIDs (the service stops being ready and closes its open gRPC
 * connections, both ways, until the next); a service whose agent never
 * answers does not start. A sidecar whose grpc_tls and tls both take the
 * agent from SPIFFE_ENDPOINT_SOCKET asks it once, for both.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { grpcCredentials, requireSpiffeId, spiffeIdOf } from "@sts/grpc";
import type { GrpcCredentials } from "@sts/grpc";
import { freePort, makeTestCa, startWorkloadApiServer, svidResponse, waitFor } from "@sts/testkit";
import type { SvidFiles, TestCa, WorkloadApiServer } from "@sts/testkit";
import { SERVICES, basicAuth, claimsOf, clientCredentialsToken, postForm, startSidecar, startStack } from "./harness.js";
import type { ServiceName, Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT, decideOver, mintOver } from "./chain.js";

const DAY = 86_400_000;
const idOf = (name: string): string => `spiffe://sts.test/ns/mesh-sts/sa/${name}`;
const SPIFFE_IDS = { issuer: idOf("issuer"), exchanger: idOf("exchanger"), policy: idOf("policy"), audit: idOf("audit") };

let dir: string;
let ca: TestCa;
let stack: Stack;
const svids = {} as Record<ServiceName, SvidFiles>;
const agents = {} as Record<ServiceName | "silent" | "sidecar", WorkloadApiServer>;
/** svc-a's sidecar: its exchanger channel on grpc_tls from its own agent; its listeners cleartext. */
const sidecarPorts = { inbound: 0, outbound: 0, health: 0 };
/** svc-m's sidecar: grpc_tls and its mutual TLS listeners, both from SPIFFE_ENDPOINT_SOCKET. */
const meshPorts = { inbound: 0, outbound: 0, health: 0 };
/** Agents of the replicas tests start. */
const replicaAgents: WorkloadApiServer[] = [];
/** The test's own identity, from files: a peer of the stack that is none of its services. */
let tester: SvidFiles;
let asTester: GrpcCredentials;

const issue = (name: string, spiffeId: string, validity?: { notBefore: Date; notAfter: Date }): SvidFiles => ({
  ...ca.issue(name, spiffeId, validity && { validity }),
  ca_file: ca.ca_file,
  spiffeId,
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sts-grpc-wl-e2e-"));
  ca = makeTestCa(dir, "sts-ca");
  for (const name of SERVICES) {
    svids[name] = issue(name, idOf(name));
    agents[name] = await startWorkloadApiServer(join(dir, `${name}.sock`), svidResponse(svids[name]));
  }
  // Has nothing for its workload: its streams stay open and silent.
  agents.silent = await startWorkloadApiServer(join(dir, "silent.sock"));
  agents.sidecar = await startWorkloadApiServer(join(dir, "sidecar.sock"), svidResponse(issue("sidecar", idOf("sidecar-svc-a"))));
  for (const name of Object.keys(sidecarPorts) as Array<keyof typeof sidecarPorts>) sidecarPorts[name] = await freePort();
  for (const name of Object.keys(meshPorts) as Array<keyof typeof meshPorts>) meshPorts[name] = await freePort();
  tester = issue("tester", idOf("tester"));
  asTester = grpcCredentials({
    cert_file: tester.cert_file,
    key_file: tester.key_file,
    ca_file: tester.ca_file,
    require_client_cert: true,
    spiffe_ids: SPIFFE_IDS,
  });
  stack = await startStack(
    {
      // No socket: each service takes its own agent's from SPIFFE_ENDPOINT_SOCKET.
      grpc_tls: { workload_api: { startup_timeout: "20s" }, spiffe_ids: SPIFFE_IDS },
      policy: { hops: [{ from: "svc-a", to: "svc-b", scopes: ["b"] }] },
      clients: [
        { client_id: "app", client_secret: SECRET, scope: ["a", "b"], audience: ["svc-a"] },
        { client_id: "svc-a", client_secret: SECRET, grant_types: ["client_credentials", EXCHANGE_GRANT], audience: [] },
      ],
      sidecars: {
        "svc-a": {
          inbound: { port: sidecarPorts.inbound },
          outbound: { port: sidecarPorts.outbound },
          health: { port: sidecarPorts.health },
          upstream: "http://127.0.0.1:9",
          routes: { "svc-b": { url: "http://127.0.0.1:9", audience: "svc-b", scopes: ["b"] } },
        },
        "svc-m": {
          inbound: { port: meshPorts.inbound },
          outbound: { port: meshPorts.outbound },
          health: { port: meshPorts.health },
          upstream: "http://127.0.0.1:9",
          tls: { workload_api: {} },
        },
      },
    },
    { services: [], probeCredentials: asTester, env: { STS_LOG_LEVEL: "info" } },
  );
  for (const name of SERVICES) await stack.start(name, { SPIFFE_ENDPOINT_SOCKET: agents[name].socket });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await Promise.all([...Object.values(agents), ...replicaAgents].map((agent) => agent.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The certificate the gRPC service `name` presents to a new TLS connection from the tester, its SPIFFE ID checked. */
const served = (name: Exclude<ServiceName, "gateway">): Promise<X509Certificate> =>
  new Promise((resolve, reject) => {
    const [host, port] = stack.address[name].split(":");
    const socket = connect(
      {
        host,
        port: Number(port),
        servername: "localhost",
        ALPNProtocols: ["h2"],
        ca: readFileSync(tester.ca_file),
        cert: readFileSync(tester.cert_file),
        key: readFileSync(tester.key_file),
        checkServerIdentity: requireSpiffeId(idOf(name)),
      },
      () => {
        const cert = socket.getPeerX509Certificate();
        socket.destroy();
        if (cert) resolve(cert);
        else reject(new Error(`${name} presented no certificate`));
      },
    );
    socket.on("error", reject);
  });

const certOf = (files: SvidFiles): X509Certificate => new X509Certificate(readFileSync(files.cert_file));
const logOf = (name: ServiceName): string => stack.processes[name]?.output() ?? "";

/** The app's token from the gateway, then svc-a's exchange of it for svc-b: gateway → issuer, gateway → exchanger → policy and issuer. */
const tokenThenExchange = async (): Promise<Record<string, unknown>> => {
  const token = await postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    { grant_type: "client_credentials", scope: "a b" },
    { authorization: basicAuth("app", SECRET) },
  );
  expect(token.status, JSON.stringify(token.body)).toBe(200);
  const exchanged = await postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    { grant_type: EXCHANGE_GRANT, subject_token: token.body.access_token as string, subject_token_type: TOKEN_TYPE_AT, audience: "svc-b", scope: "b" },
    { authorization: basicAuth("svc-a", SECRET) },
  );
  expect(exchanged.status, JSON.stringify(exchanged.body)).toBe(200);
  return claimsOf(exchanged.body.access_token as string);
};

/**
 * Neither PEM nor DER of any SVID key the agents hold appears in any service's log, read whole: a key is most likely
 * printed at start, as the first SVID is applied, which the kept tail of a busy log no longer holds (outputSince(0)
 * throws rather than look at a log cut short).
 */
const expectNoKeyMaterial = (): void => {
  const keys = [...Object.values(svids), tester].map((files) => createPrivateKey(readFileSync(files.key_file)).export({ format: "der", type: "pkcs8" }));
  for (const name of SERVICES) {
    const log = stack.processes[name]!.outputSince(0);
    expect(log, name).not.toMatch(/PRIVATE KEY/);
    for (const der of keys) {
      expect(log, name).not.toContain(der.toString("base64").slice(0, 40));
      expect(log, name).not.toContain(der.toString("hex").slice(0, 40));
    }
  }
};

/** A grpc.health.v1 client on one channel, which the test keeps open across calls, reconnecting quickly. */
type HealthClient = grpc.Client & {
  Check(request: { service: string }, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response?: { status: string }) => void): void;
};
const healthClient = (address: string, credentials: grpc.ChannelCredentials): HealthClient => {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(healthProtoPath, { enums: String })) as unknown as {
    grpc: { health: { v1: { Health: new (address: string, credentials: grpc.ChannelCredentials, options: grpc.ClientOptions) => HealthClient } } };
  };
  return new pkg.grpc.health.v1.Health(address, credentials, { "grpc.initial_reconnect_backoff_ms": 100, "grpc.max_reconnect_backoff_ms": 500 });
};
/** The whole server's health over `client`'s channel, or the call's error. */
const healthOf = (client: HealthClient): Promise<string> =>
  new Promise((resolve, reject) =>
    client.Check({ service: "" }, { deadline: Date.now() + 3000 }, (err, res) => (err ? reject(err) : resolve(res?.status ?? ""))),
  );
const statusOf = async (url: string): Promise<number> => (await fetch(url)).status;

describe("the stack with grpc_tls.workload_api", () => {
  it("runs every service on its own agent's SVID, checked by SPIFFE ID: a client_credentials token and an exchange work", async () => {
    expect(await tokenThenExchange()).toMatchObject({ aud: "svc-b", scope: "b", act: { sub: "svc-a" } });
    for (const name of ["issuer", "exchanger", "policy", "audit"] as const) {
      const cert = await served(name);
      expect(spiffeIdOf({ subjectaltname: cert.subjectAltName ?? "" }), name).toBe(idOf(name));
      expect(cert.serialNumber, name).toBe(certOf(svids[name]).serialNumber);
    }
    for (const name of SERVICES) {
      // Each asked its own agent, with the security header.
      expect([agents[name].accepted(), agents[name].refused()], name).toEqual([1, 0]);
      expect(logOf(name), name).toContain(`"spiffe_id":"${idOf(name)}"`);
      expect(logOf(name), name).toContain("grpc_tls.workload_api: X.509-SVID applied");
    }
    expectNoKeyMaterial();
  });

  it("answers Mint and Decide only to the exchanger's SVID: another SVID from the same CA gets unauthorized_client", async () => {
    const minted = await mintOver(stack.address.issuer, asTester.channelTo("issuer"), stack.secrets.exchanger);
    expect(minted.ok).toBe(false);
    if (!minted.ok) expect(minted.failure.error).toBe("unauthorized_client");
    const decided = await decideOver(stack.address.policy, asTester.channelTo("policy"));
    expect(decided.ok).toBe(false);
    if (!decided.ok) expect(decided.failure.error).toBe("unauthorized_client");
    // The exchanger's own calls, with its SVID, still get both.
    expect(await tokenThenExchange()).toMatchObject({ aud: "svc-b" });
  });

  it("applies a rotation the issuer's agent pushes: a new connection sees the new certificate, with no restart", async () => {
    const pid = stack.processes.issuer?.pid;
    const before = await served("issuer");
    // A validity of its own, so that not_after changes too.
    const next = issue(`issuer-${Date.now()}`, idOf("issuer"), { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + DAY) });
    expect(certOf(next).serialNumber).not.toBe(before.serialNumber);
    agents.issuer.push(svidResponse(next));
    await waitFor(async () => (await served("issuer")).serialNumber === certOf(next).serialNumber, {
      timeoutMs: 10_000,
      message: "the issuer never presented the rotated SVID",
    });
    const after = await served("issuer");
    expect(after.validTo).toBe(certOf(next).validTo);
    expect(after.validTo).not.toBe(before.validTo);
    expect(stack.processes.issuer?.pid).toBe(pid);
    expect(logOf("issuer")).toContain(`"not_after":"${new Date(certOf(next).validTo).toISOString()}"`);
    // The gateway and the exchanger still reach the issuer by its SPIFFE ID.
    expect(await tokenThenExchange()).toMatchObject({ aud: "svc-b" });
    expectNoKeyMaterial();
  });

  it.each([
    [
      "expired",
      () => issue(`expired-${Date.now()}`, idOf("exchanger"), { notBefore: new Date(Date.now() - 3 * DAY), notAfter: new Date(Date.now() - DAY) }),
      /the leaf expired at /,
    ],
    [
      "not chaining to the bundle",
      () => ({ ...makeTestCa(dir, `other-${Date.now()}`).issue(`foreign-${Date.now()}`, idOf("exchanger")), ca_file: ca.ca_file, spiffeId: idOf("exchanger") }),
      /the leaf is not signed by any valid certificate of the bundle/,
    ],
  ] as const)("keeps the exchanger's SVID in use when its agent sends one %s, says why, and keeps exchanging", async (_, bad, reason) => {
    const before = await served("exchanger");
    const refusals = (): string[] =>
      logOf("exchanger")
        .split("\n")
        .filter((line) => line.includes("X.509-SVID refused; the one in use stays"));
    const seen = refusals().length;
    agents.exchanger.push(svidResponse(bad()));
    await waitFor(() => refusals().length > seen, { timeoutMs: 10_000, message: "the exchanger never refused the broken SVID" });
    expect(refusals().at(-1)).toMatch(reason);
    expect((await served("exchanger")).serialNumber).toBe(before.serialNumber);
    expect(await tokenThenExchange()).toMatchObject({ aud: "svc-b", act: { sub: "svc-a" } });
    expectNoKeyMaterial();
  });

  it("closes the connections open to an exchanger whose agent redacts its SVID, and reports it not ready, until the agent sends the next", async () => {
    const agent = await startWorkloadApiServer(join(dir, "exchanger-replica.sock"), svidResponse(svids.exchanger));
    replicaAgents.push(agent);
    const adminPort = await freePort();
    const readyz = `http://127.0.0.1:${adminPort}/readyz`;
    const { handle, address } = await stack.startReplica("exchanger", { SPIFFE_ENDPOINT_SOCKET: agent.socket, STS_EXCHANGER_ADMIN_PORT: String(adminPort) });
    const health = healthClient(address, asTester.channelTo("exchanger"));
    try {
      expect(await healthOf(health)).toBe("SERVING");
      expect(health.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.READY);
      expect(await statusOf(readyz)).toBe(200);

      agent.push({ svids: [] });
      await waitFor(async () => (await statusOf(readyz)) === 503, { timeoutMs: 10_000, message: "the exchanger stayed ready without an identity" });
      // The tester's connection, open and READY until now, was closed by the exchanger; a new one is not accepted.
      await expect(healthOf(health)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
      // The process logs it as it withdraws the identity; its output reaches this test through a pipe, a moment later.
      await waitFor(() => handle.output().includes("X.509-SVID redacted by the agent; the service reports NOT_SERVING"), {
        timeoutMs: 5_000,
        message: "the exchanger did not log the redaction",
      });
      expect(handle.output()).toMatch(/"serving":false,"identity":"withdrawn"/);

      agent.push(svidResponse(issue(`exchanger-replica-${Date.now()}`, idOf("exchanger"))));
      await waitFor(async () => (await statusOf(readyz)) === 200, { timeoutMs: 10_000, message: "the exchanger never became ready again" });
      expect(await waitFor(() => healthOf(health).catch(() => undefined), { timeoutMs: 10_000, message: "the exchanger never answered again" })).toBe(
        "SERVING",
      );
    } finally {
      health.close();
      await handle.stop();
    }
  });

  it("reports a service not live, for a restart, once its SVID is withdrawn and its agent refused the stream for good; live while either can change", async () => {
    const agent = await startWorkloadApiServer(join(dir, "exchanger-lost.sock"), svidResponse(svids.exchanger));
    replicaAgents.push(agent);
    const adminPort = await freePort();
    const probe = (path: string): Promise<number> => statusOf(`http://127.0.0.1:${adminPort}${path}`);
    const { handle } = await stack.startReplica("exchanger", { SPIFFE_ENDPOINT_SOCKET: agent.socket, STS_EXCHANGER_ADMIN_PORT: String(adminPort) });
    try {
      agent.push({ svids: [] });
      await waitFor(async () => (await probe("/readyz")) === 503, { timeoutMs: 10_000, message: "the exchanger stayed ready without an identity" });
      // The agent may still send the next SVID: waiting is the cure, not a restart.
      expect(await probe("/healthz")).toBe(200);
      agent.fail(grpc.status.INVALID_ARGUMENT, "malformed request");
      await waitFor(async () => (await probe("/healthz")) === 503, { timeoutMs: 10_000, message: "the exchanger stayed live with its identity lost for good" });
      await waitFor(() => handle.output().includes("refused the stream for good"), { timeoutMs: 5_000, message: "the exchanger did not log the refusal" });
    } finally {
      await handle.stop();
    }
  });

  it("fails the gateway's calls over its open channels when its agent redacts its SVID, and reports it not ready, until the agent sends the next", async () => {
    // The gateway's channels to the issuer and the exchanger are open and READY.
    expect(await tokenThenExchange()).toMatchObject({ aud: "svc-b" });
    const redactions = (): number => logOf("gateway").split("X.509-SVID redacted by the agent").length - 1;
    const seen = redactions();
    agents.gateway.push({ svids: [] });
    try {
      await waitFor(() => redactions() > seen, { timeoutMs: 10_000, message: "the gateway never saw the redaction" });
      await expect(clientCredentialsToken(stack, "app", SECRET, { scope: "a" })).rejects.toThrow(
        /^client_credentials for app: 503 .*"temporarily_unavailable"/,
      );
      expect(await statusOf(`${stack.gatewayUrl}/readyz`)).toBe(503);
    } finally {
      agents.gateway.push(svidResponse(issue(`gateway-${Date.now()}`, idOf("gateway"))));
    }
    await waitFor(async () => (await statusOf(`${stack.gatewayUrl}/readyz`)) === 200, { timeoutMs: 10_000, message: "the gateway never became ready again" });
    expect(await tokenThenExchange()).toMatchObject({ aud: "svc-b", act: { sub: "svc-a" } });
  });

  it("reports a sidecar not ready while the SVID of its exchanger channel is redacted, ready again with the next, and not live once it is lost for good", async () => {
    const readyz = `http://127.0.0.1:${sidecarPorts.health}/readyz`;
    const sidecar = await startSidecar(stack, "svc-a", SECRET, async () => (await statusOf(readyz).catch(() => 0)) === 200, {
      SPIFFE_ENDPOINT_SOCKET: agents.sidecar.socket,
    });
    try {
      await waitFor(() => sidecar.output().includes("grpc_tls.workload_api: X.509-SVID applied"), {
        timeoutMs: 5_000,
        message: "the sidecar did not log its SVID",
      });
      agents.sidecar.push({ svids: [] });
      // Its exchanges would fail closed: an orchestrator must stop sending it traffic.
      await waitFor(async () => (await statusOf(readyz)) === 503, { timeoutMs: 10_000, message: "the sidecar stayed ready without its gRPC identity" });
      expect(await statusOf(`http://127.0.0.1:${sidecarPorts.health}/healthz`)).toBe(200);
      agents.sidecar.push(svidResponse(issue(`sidecar-${Date.now()}`, idOf("sidecar-svc-a"))));
      await waitFor(async () => (await statusOf(readyz)) === 200, { timeoutMs: 10_000, message: "the sidecar never became ready again" });
      // Withdrawn again, and the agent refuses the stream for good: not live, so that it is restarted.
      agents.sidecar.push({ svids: [] });
      await waitFor(async () => (await statusOf(readyz)) === 503, { timeoutMs: 10_000, message: "the sidecar stayed ready without its gRPC identity" });
      agents.sidecar.fail(grpc.status.INVALID_ARGUMENT, "malformed request");
      await waitFor(async () => (await statusOf(`http://127.0.0.1:${sidecarPorts.health}/healthz`)) === 503, {
        timeoutMs: 10_000,
        message: "the sidecar stayed live with its gRPC identity lost for good",
      });
    } finally {
      await sidecar.stop();
    }
  });

  it("has a sidecar whose grpc_tls and tls name one agent open one FetchX509SVID stream, and take each rotation for both", async () => {
    const id = idOf("sidecar-svc-m");
    const agent = await startWorkloadApiServer(join(dir, "sidecar-mesh.sock"), svidResponse(issue("sidecar-mesh", id)));
    replicaAgents.push(agent);
    const readyz = `http://127.0.0.1:${meshPorts.health}/readyz`;
    const sidecar = await startSidecar(stack, "svc-m", SECRET, async () => (await statusOf(readyz).catch(() => 0)) === 200, {
      SPIFFE_ENDPOINT_SOCKET: agent.socket,
    });
    /** Whether the sidecar logged, under `section`, an SVID applied with `files`'s not_after. */
    const applied = (section: string, files: SvidFiles): boolean =>
      sidecar
        .output()
        .split("\n")
        .some((line) => line.includes(`${section}: X.509-SVID applied`) && line.includes(`"not_after":"${new Date(certOf(files).validTo).toISOString()}"`));
    /** The certificate the sidecar's inbound listener presents to the tester. */
    const inbound = (): Promise<X509Certificate> =>
      new Promise((resolve, reject) => {
        const socket = connect(
          {
            host: "127.0.0.1",
            port: meshPorts.inbound,
            ca: readFileSync(tester.ca_file),
            cert: readFileSync(tester.cert_file),
            key: readFileSync(tester.key_file),
            checkServerIdentity: requireSpiffeId(id),
          },
          () => {
            const cert = socket.getPeerX509Certificate();
            socket.destroy();
            if (cert) resolve(cert);
            else reject(new Error("svc-m's sidecar presented no certificate"));
          },
        );
        socket.on("error", reject);
      });
    try {
      expect(agent.accepted()).toBe(1);
      // A validity of its own, so that not_after tells the two SVIDs apart in the log.
      const next = issue(`sidecar-mesh-${Date.now()}`, id, { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + DAY) });
      agent.push(svidResponse(next));
      await waitFor(async () => (await inbound()).serialNumber === certOf(next).serialNumber, {
        timeoutMs: 10_000,
        message: "the sidecar's listener never presented the rotated SVID",
      });
      await waitFor(() => applied("grpc_tls.workload_api", next) && applied("sidecars.svc-m.tls.workload_api", next), {
        timeoutMs: 5_000,
        message: "the rotated SVID was not applied to both grpc_tls and tls",
      });
      expect(agent.accepted()).toBe(1);
      expect(await statusOf(readyz)).toBe(200);
    } finally {
      await sidecar.stop();
    }
  });

  it("refuses to start a stack on grpc_tls.workload_api without probeCredentials, before starting anything", async () => {
    await expect(startStack({ grpc_tls: { workload_api: { startup_timeout: "20s" }, spiffe_ids: SPIFFE_IDS } }, { services: [] })).rejects.toThrow(
      /^startStack: grpc_tls names no cert_file \(grpc_tls\.workload_api\): pass probeCredentials/,
    );
  });

  it("does not start a service whose agent never answers: it exits within startup_timeout, naming grpc_tls.workload_api", async () => {
    // The stack's config with a startup_timeout of 1 s, for this replica only.
    const config = parse(readFileSync(stack.configFile, "utf8")) as { grpc_tls: { workload_api: Record<string, unknown> } };
    config.grpc_tls.workload_api.startup_timeout = 1;
    const file = join(dir, "silent-agent.yaml");
    writeFileSync(file, stringify(config));
    const err = await stack.startReplica("policy", { STS_CONFIG: file, SPIFFE_ENDPOINT_SOCKET: agents.silent.socket }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    // It exited by itself, with the startup timer's message: a timer that never fired would have left it waiting
    // until the harness gave up ("not ready in time", after 20 s), which this refuses.
    expect(err?.message).toMatch(/^policy exited \(1\) before ready/);
    expect(err?.message).toMatch(
      /grpc_tls\.workload_api: no X\.509-SVID from unix:\/\/.*silent\.sock within 1 s \(no answer\); without an identity the service does not start/,
    );
    expect(err?.message).not.toMatch(/PRIVATE KEY/);
    expect(agents.silent.accepted()).toBe(1);
  });
});
