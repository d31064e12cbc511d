import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { X509SvidStreams, openGrpcCredentials } from "@sts/grpc";
import { startAdminServer } from "@sts/runtime";
import type { AdminServer } from "@sts/runtime";
import { makeTestCa, startWorkloadApiServer, svidResponse, waitFor } from "@sts/testkit";
import type { SvidFiles, WorkloadApiServer } from "@sts/testkit";
import { createLogger } from "@sts/telemetry";
import type { SidecarConfig } from "./config.js";
import { startSidecar } from "./sidecar.js";
import type { SidecarDeps } from "./sidecar.js";

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
