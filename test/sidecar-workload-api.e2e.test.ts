/**
 * Sidecars that take their X.509-SVID from the SPIFFE Workload API instead of
 * PEM files, through real sidecar processes: each talks to its own stand-in
 * SPIRE agent, a real gRPC server on a unix socket in a temp dir that serves
 * SVIDs from a throwaway openssl CA. The test plays workload A and calls
 * [sidecar A out] → https → [sidecar B in] → B; the agent then rotates B's
 * SVID and new connections see it. When an agent redacts the SVID, its
 * sidecar stops serving and calling out with it until the next one; when an
 * agent refuses the stream for good, its sidecar reports itself not live. A
 * sidecar whose agent has not answered is not ready and serves nothing; one
 * whose agent never answers fails to start.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { IncomingHttpHeaders, Server as HttpServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
import type { AddressInfo, Server as TcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Client, Metadata, credentials, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { requireSpiffeId } from "@sts/grpc";
import { freePort, httpReady, makeTestCa, startWorkloadApiServer, svidResponse, tcpOpen } from "@sts/testkit";
import type { ProcessHandle, SvidFiles, WorkloadApiServer } from "@sts/testkit";
import { claimsOf, clientCredentialsToken, startSidecar, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, workloadClients } from "./chain.js";

const A_ID = "spiffe://mesh.test/ns/shop/sa/svc-a";
const B_ID = "spiffe://mesh.test/ns/shop/sa/svc-b";
const C_ID = "spiffe://mesh.test/ns/shop/sa/svc-c";

let dir: string;
let stack: Stack;
const svid = {} as Record<"a" | "b" | "bRotated" | "c", SvidFiles>;
const agents = {} as Record<"a" | "b" | "c" | "d", WorkloadApiServer>;
const ports = { outA: 0, inA: 0, grpcOutA: 0, healthA: 0, inB: 0, outB: 0, healthB: 0, inC: 0, outC: 0, healthC: 0, inD: 0, outD: 0, probe: 0 };
const sidecars: ProcessHandle[] = [];
let workloadB: HttpServer;
const seenByB: IncomingHttpHeaders[] = [];
/** A route's destination that only counts the connections it gets (and closes them): whether A dialled at all. */
let probe: TcpServer;
let probed = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sts-wl-e2e-"));
  const mesh = makeTestCa(dir, "mesh-ca");
  const issue = (name: string, spiffeId: string): SvidFiles => ({ ...mesh.issue(name, spiffeId), ca_file: mesh.ca_file, spiffeId });
  svid.a = issue("svc-a", A_ID);
  svid.b = issue("svc-b", B_ID);
  // B's next SVID: a new key and certificate for the same ID, as SPIRE rotates them.
  svid.bRotated = issue("svc-b-rotated", B_ID);
  svid.c = issue("svc-c", C_ID);
  agents.a = await startWorkloadApiServer(join(dir, "agent-a.sock"), svidResponse(svid.a));
  agents.b = await startWorkloadApiServer(join(dir, "agent-b.sock"), svidResponse(svid.b));
  // C's and D's agents have nothing for them (yet): their streams stay open and silent.
  agents.c = await startWorkloadApiServer(join(dir, "agent-c.sock"));
  agents.d = await startWorkloadApiServer(join(dir, "agent-d.sock"));
  for (const name of Object.keys(ports) as Array<keyof typeof ports>) ports[name] = await freePort();

  workloadB = createServer((req, res) => {
    seenByB.push(req.headers);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ peer: req.headers["x-mesh-peer"] ?? null }));
  });
  const portB = await new Promise<number>((resolve) => workloadB.listen(0, "127.0.0.1", () => resolve((workloadB.address() as AddressInfo).port)));
  probe = createTcpServer((socket) => {
    probed++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => probe.listen(ports.probe, "127.0.0.1", resolve));
  const probeUrl = `https://127.0.0.1:${ports.probe}`;

  stack = await startStack(
    {
      policy: { hops: [{ from: "svc-a", to: "svc-b", scopes: ["b"] }] },
      clients: [
        { client_id: "end-user-app", client_secret: SECRET, scope: ["a", "b"], audience: ["svc-a"] },
        ...workloadClients("svc-a", "svc-b", "svc-c", "svc-d"),
      ],
      sidecars: {
        "svc-a": {
          inbound: { port: ports.inA },
          outbound: { port: ports.outA },
          grpc_outbound: { port: ports.grpcOutA },
          health: { port: ports.healthA },
          upstream: "http://127.0.0.1:9",
          tls: { workload_api: { socket: agents.a.socket } },
          routes: {
            "svc-b": { url: `https://127.0.0.1:${ports.inB}`, spiffe_id: B_ID, audience: "svc-b", scopes: ["b"] },
            "svc-b-probe": { url: probeUrl, grpc_url: probeUrl, spiffe_id: B_ID, audience: "svc-b", scopes: ["b"] },
          },
        },
        "svc-b": {
          inbound: { port: ports.inB },
          outbound: { port: ports.outB },
          health: { port: ports.healthB },
          upstream: `http://127.0.0.1:${portB}`,
          tls: { workload_api: { socket: agents.b.socket }, allowed_peers: [A_ID] },
        },
        // No socket: SPIFFE_ENDPOINT_SOCKET names it, as a SPIRE deployment sets it.
        "svc-c": {
          inbound: { port: ports.inC },
          outbound: { port: ports.outC },
          health: { port: ports.healthC },
          upstream: "http://127.0.0.1:9",
          tls: { workload_api: { startup_timeout: "60s" } },
        },
        "svc-d": {
          inbound: { port: ports.inD },
          outbound: { port: ports.outD },
          upstream: "http://127.0.0.1:9",
          tls: { workload_api: { socket: agents.d.socket, startup_timeout: 1 } },
        },
      },
    },
    { services: ["issuer", "policy", "exchanger", "gateway"] },
  );
  const open =
    (...p: number[]) =>
    async () =>
      (await Promise.all(p.map(tcpOpen))).every(Boolean);
  sidecars.push(await startSidecar(stack, "svc-a", SECRET, open(ports.inA, ports.outA, ports.grpcOutA, ports.healthA)));
  sidecars.push(await startSidecar(stack, "svc-b", SECRET, open(ports.inB, ports.outB, ports.healthB)));
}, 90_000);

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  workloadB?.close();
  probe?.close();
  await Promise.all(Object.values(agents).map((agent) => agent.stop()));
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Workload A, called by the end user's app, calling B through its sidecar's outbound listener. */
const outOfAtoB = async (): Promise<Response> => {
  const token = await clientCredentialsToken(stack, "end-user-app", SECRET, { scope: "a b" });
  return fetch(`http://127.0.0.1:${ports.outA}/svc-b/work`, { headers: { authorization: `Bearer ${token}` } });
};

/** The fingerprint of the certificate B's inbound listener presents to a new connection from A's SVID, B's ID checked. */
const presentedByB = (): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = connect(
      {
        host: "127.0.0.1",
        port: ports.inB,
        ca: readFileSync(svid.a.ca_file),
        cert: readFileSync(svid.a.cert_file),
        key: createPrivateKey(readFileSync(svid.a.key_file)).export({ format: "pem", type: "pkcs8" }),
        checkServerIdentity: requireSpiffeId(B_ID),
      },
      () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.end();
      },
    );
    socket.on("error", reject);
  });

const fingerprint = (files: SvidFiles): string => new X509Certificate(readFileSync(files.cert_file)).fingerprint256;

/** Sidecar C, once a test has started it (it runs for the rest of the file). */
let sidecarC: ProcessHandle | undefined;

/** Starts sidecar C with its agent's socket, taken for started once its health listener answers. */
async function startC(): Promise<ProcessHandle> {
  sidecarC = await startSidecar(stack, "svc-c", SECRET, () => httpReady(`http://127.0.0.1:${ports.healthC}/healthz`), {
    SPIFFE_ENDPOINT_SOCKET: agents.c.socket,
  });
  sidecars.push(sidecarC);
  return sidecarC;
}

/** The status of a health listener's `path`. */
const health = async (port: number, path: "/healthz" | "/readyz"): Promise<number> => (await fetch(`http://127.0.0.1:${port}${path}`)).status;

/** Workload A's gRPC call through its sidecar's gRPC outbound listener to `route` (the channel's authority); its status. */
const grpcOutOfA = async (route: string): Promise<status> => {
  const token = await clientCredentialsToken(stack, "end-user-app", SECRET, { scope: "a b" });
  const client = new Client(`127.0.0.1:${ports.grpcOutA}`, credentials.createInsecure(), { "grpc.default_authority": route });
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  const bytes = (b: Buffer): Buffer => b;
  return new Promise((resolve) =>
    client.makeUnaryRequest("/demo.Work/Do", bytes, bytes, Buffer.alloc(0), metadata, { deadline: Date.now() + 5000 }, (err: ServiceError | null) => {
      client.close();
      resolve(err?.code ?? status.OK);
    }),
  );
};

describe("sidecars with their SVIDs from the SPIFFE Workload API", () => {
  it("carries the A → B hop over mutual TLS, and B's workload learns A's SPIFFE ID in x-mesh-peer", async () => {
    const r = await outOfAtoB();
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ peer: A_ID });
    const seen = seenByB.at(-1)!;
    expect(seen["x-mesh-peer"]).toBe(A_ID);
    expect(claimsOf((seen.authorization ?? "").slice("Bearer ".length))).toMatchObject({ aud: "svc-b", scope: "b", act: { sub: "svc-a" } });
    // Each sidecar asked its agent with the security header: none of their calls was refused.
    expect(agents.a.refused() + agents.b.refused()).toBe(0);
    expect(await presentedByB()).toBe(fingerprint(svid.b));
  });

  it("takes B's rotated SVID (new key, same ID) as the agent pushes it: new connections see it, and A → B still works", async () => {
    agents.b.push(svidResponse(svid.bRotated));
    await vi.waitFor(async () => expect(await presentedByB()).toBe(fingerprint(svid.bRotated)), { timeout: 10_000, interval: 100 });
    const r = await outOfAtoB();
    expect(r.status).toBe(200);
    expect(seenByB.at(-1)?.["x-mesh-peer"]).toBe(A_ID);
    // B's sidecar opened one stream to its agent and got the rotation on it.
    expect(agents.b.accepted()).toBe(1);
  });

  it("keeps B's SVID in use when the agent pushes one whose key is not its certificate's, and says why", async () => {
    const broken = svidResponse(svid.b);
    broken.svids![0]!.x509_svid_key = createPrivateKey(readFileSync(svid.a.key_file)).export({ format: "der", type: "pkcs8" });
    agents.b.push(broken);
    await vi.waitFor(() => expect(sidecars[1]?.output()).toContain("X.509-SVID refused; the one in use stays"), { timeout: 10_000 });
    expect(await presentedByB()).toBe(fingerprint(svid.bRotated));
    expect((await outOfAtoB()).status).toBe(200);
  });

  it("drops B's SVID when its agent redacts it (PERMISSION_DENIED): not ready, new handshakes refused; the same SVID sent again restores all", async () => {
    const before = seenByB.length;
    agents.b.fail(status.PERMISSION_DENIED, "registration entry deleted");
    await vi.waitFor(async () => expect(await health(ports.healthB, "/readyz")).toBe(503), { timeout: 10_000, interval: 100 });
    // Not ready, but live: the agent may issue an identity again.
    expect(await health(ports.healthB, "/healthz")).toBe(200);
    await expect(presentedByB()).rejects.toThrow();
    expect((await outOfAtoB()).status).toBe(502);
    expect(seenByB.length).toBe(before);
    expect(sidecars[1]?.output()).toMatch(
      /X\.509-SVID redacted by the agent.*registration entry deleted|registration entry deleted.*X\.509-SVID redacted by the agent/,
    );

    agents.b.push(svidResponse(svid.bRotated));
    await vi.waitFor(async () => expect(await health(ports.healthB, "/readyz")).toBe(200), { timeout: 10_000, interval: 100 });
    expect(await presentedByB()).toBe(fingerprint(svid.bRotated));
    expect((await outOfAtoB()).status).toBe(200);
  });

  it("fails A's calls to https routes while A's SVID is redacted (a response without it): 502 or UNAVAILABLE, dialling nothing", async () => {
    agents.a.push({ svids: [] });
    await vi.waitFor(async () => expect(await health(ports.healthA, "/readyz")).toBe(503), { timeout: 10_000, interval: 100 });
    const [before, probedBefore] = [seenByB.length, probed];
    const http = await outOfAtoB();
    expect(http.status).toBe(502);
    expect(await http.json()).toEqual({ error: "bad_gateway" });
    const token = await clientCredentialsToken(stack, "end-user-app", SECRET, { scope: "a b" });
    expect((await fetch(`http://127.0.0.1:${ports.outA}/svc-b-probe/work`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(502);
    expect(await grpcOutOfA("svc-b-probe")).toBe(status.UNAVAILABLE);
    expect(probed).toBe(probedBefore);
    expect(seenByB.length).toBe(before);

    agents.a.push(svidResponse(svid.a));
    await vi.waitFor(async () => expect(await health(ports.healthA, "/readyz")).toBe(200), { timeout: 10_000, interval: 100 });
    expect((await outOfAtoB()).status).toBe(200);
    // The control: with an identity, A dials the probe (which hangs up).
    expect(await grpcOutOfA("svc-b-probe")).toBe(status.UNAVAILABLE);
    expect(probed).toBeGreaterThan(probedBefore);
  });

  it("is not ready, and serves nothing, until its agent sends an SVID (found through SPIFFE_ENDPOINT_SOCKET)", async () => {
    const healthC = `http://127.0.0.1:${ports.healthC}`;
    await startC();
    // Its health listener is up before anything start-up waits for: the stream to the agent opens a moment later.
    await vi.waitFor(() => expect(agents.c.accepted()).toBe(1), { timeout: 10_000, interval: 50 });
    expect((await fetch(`${healthC}/readyz`)).status).toBe(503);
    expect(await tcpOpen(ports.inC)).toBe(false);

    agents.c.push(svidResponse(svid.c));
    await vi.waitFor(async () => expect((await fetch(`${healthC}/readyz`)).status).toBe(200), { timeout: 10_000, interval: 100 });
    expect(await tcpOpen(ports.inC)).toBe(true);
  });

  it("reports itself not live, to be restarted, once its agent refuses the stream for good (INVALID_ARGUMENT) after startup", async () => {
    // C with its SVID, whether or not the test above started it.
    if (sidecarC === undefined) {
      await startC();
      agents.c.push(svidResponse(svid.c));
    }
    await vi.waitFor(async () => expect(await health(ports.healthC, "/readyz")).toBe(200), { timeout: 10_000, interval: 100 });
    expect(await health(ports.healthC, "/healthz")).toBe(200);
    agents.c.fail(status.INVALID_ARGUMENT, "malformed request");
    await vi.waitFor(async () => expect(await health(ports.healthC, "/healthz")).toBe(503), { timeout: 10_000, interval: 100 });
    expect(await health(ports.healthC, "/readyz")).toBe(503);
    await vi.waitFor(() => expect(sidecarC?.output()).toContain("the agent refused the stream for good"), { timeout: 5_000 });
  });

  it("fails to start, saying why, when its agent never sends an SVID within startup_timeout, having served nothing", async () => {
    const started = startSidecar(stack, "svc-d", SECRET, () => tcpOpen(ports.inD));
    await expect(started).rejects.toThrow(
      `sidecars.svc-d.tls.workload_api: no X.509-SVID from ${agents.d.socket} within 1 s (no answer); without an identity the sidecar does not serve`,
    );
    expect(agents.d.accepted()).toBeGreaterThanOrEqual(1);
    expect(await tcpOpen(ports.inD)).toBe(false);
  });
});
