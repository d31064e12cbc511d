import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { loadWorkloadApiProto } from "@sts/proto";
import { makeTestCa, startWorkloadApiServer, svidResponse, waitFor } from "@sts/testkit";
import type { SvidFiles, WorkloadApiServer } from "@sts/testkit";
import type { X509Svid } from "./svid-material.js";
import type { StreamFailure } from "./workload-api.js";
import { X509SvidSource, watchX509Svid } from "./workload-api.js";

const ID = "spiffe://mesh.test/ns/shop/sa/svc-a";
const SECTION = "sidecars.svc-a.tls.workload_api";
const FAST = { initialMs: 20, maxMs: 200 };

let dir: string;
let first: SvidFiles;
let rotated: SvidFiles;
const cleanups: Array<() => unknown> = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-wl-api-"));
  const ca = makeTestCa(dir, "mesh-ca");
  first = { ...ca.issue("svc-a-1", ID), ca_file: ca.ca_file, spiffeId: ID };
  rotated = { ...ca.issue("svc-a-2", ID), ca_file: ca.ca_file, spiffeId: ID };
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

let sockets = 0;
/** A fresh socket path in the temp dir. */
const socketPath = (): string => join(dir, `agent-${++sockets}.sock`);

const agent = async (path: string, initial?: SvidFiles): Promise<WorkloadApiServer> => {
  const server = await startWorkloadApiServer(path, initial && svidResponse(initial));
  cleanups.push(() => server.stop());
  return server;
};

/** Watches `server`, recording what the watcher reports. */
const watch = (server: WorkloadApiServer) => {
  const svids: X509Svid[] = [];
  const reloads: Array<{ applied: boolean; reason?: string }> = [];
  const failures: StreamFailure[] = [];
  const stop = watchX509Svid({
    socket: server.socket,
    section: SECTION,
    backoff: FAST,
    onSvid: (svid) => svids.push(svid),
    onReload: (event) => reloads.push(event),
    onStreamFailure: (failure) => failures.push(failure),
  });
  cleanups.push(stop);
  return { svids, reloads, failures, stop };
};

const fingerprintOf = (material: { cert: Buffer }): string => new X509Certificate(material.cert).fingerprint256;
const fingerprint = (svid: SvidFiles): string => new X509Certificate(readFileSync(svid.cert_file)).fingerprint256;

describe("watchX509Svid", () => {
  it("takes the first SVID, then a rotated one the agent pushes on the same stream", async () => {
    const server = await agent(socketPath(), first);
    const w = watch(server);
    await waitFor(() => w.svids.length === 1, { timeoutMs: 5000, message: "no first SVID" });
    expect(w.svids[0]?.spiffeId).toBe(ID);
    expect(fingerprintOf(w.svids[0]!.material)).toBe(fingerprint(first));

    server.push(svidResponse(rotated));
    await waitFor(() => w.svids.length === 2, { timeoutMs: 5000, message: "the rotation was never taken" });
    expect(fingerprintOf(w.svids[1]!.material)).toBe(fingerprint(rotated));
    expect(w.reloads).toEqual([{ applied: true }, { applied: true }]);
    // One stream carried both: the rotation was pushed, not fetched again.
    expect(server.accepted()).toBe(1);
    expect(w.failures).toEqual([]);
  });

  it("sends workload.spiffe.io: true, without which the agent refuses the call (as SPIRE does)", async () => {
    const server = await agent(socketPath(), first);
    // The control: the stand-in refuses a call without the header, as the specification requires of the agent.
    const bare = new (loadWorkloadApiProto().SpiffeWorkloadAPI)(server.socket, grpc.credentials.createInsecure());
    const refusal = await new Promise<grpc.StatusObject>((resolve) => {
      const call = bare.FetchX509SVID({});
      call.on("error", () => undefined);
      call.on("status", resolve);
    });
    bare.close();
    expect(refusal.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(server.refused()).toBe(1);

    const w = watch(server);
    await waitFor(() => w.svids.length === 1, { timeoutMs: 5000, message: "no SVID: was the header sent?" });
    expect(server.refused()).toBe(1);
  });

  it("refuses a response whose key is not its certificate's, warns why, and keeps the SVID in use", async () => {
    const server = await agent(socketPath(), first);
    const w = watch(server);
    await waitFor(() => w.svids.length === 1, { timeoutMs: 5000, message: "no first SVID" });

    const mismatched = svidResponse(rotated);
    mismatched.svids![0]!.x509_svid_key = createPrivateKey(readFileSync(first.key_file)).export({ format: "der", type: "pkcs8" });
    server.push(mismatched);
    await waitFor(() => w.reloads.length === 2, { timeoutMs: 5000, message: "the broken response was never reported" });
    expect(w.reloads[1]).toEqual({
      applied: false,
      reason: expect.stringMatching(/^sidecars\.svc-a\.tls\.workload_api: the certificate, key or CA bundle is not usable/) as string,
    });
    expect(w.svids).toHaveLength(1);

    // The stream stays usable: the complete rotation that follows is taken.
    server.push(svidResponse(rotated));
    await waitFor(() => w.svids.length === 2, { timeoutMs: 5000, message: "the good rotation was never taken" });
    expect(fingerprintOf(w.svids[1]!.material)).toBe(fingerprint(rotated));
  });

  it("opens the stream again, with backoff, after the agent stops and starts again on the same socket", async () => {
    const path = socketPath();
    const before = await agent(path, first);
    const w = watch(before);
    await waitFor(() => w.svids.length === 1, { timeoutMs: 5000, message: "no first SVID" });

    await before.stop();
    await waitFor(() => w.failures.length >= 2, { timeoutMs: 5000, message: "the lost agent was not retried" });
    expect(w.failures.every((f) => f.retryInMs !== undefined && f.retryInMs <= FAST.maxMs)).toBe(true);

    const after = await agent(path, rotated);
    await waitFor(() => w.svids.length === 2, { timeoutMs: 5000, message: "never reconnected to the restarted agent" });
    expect(fingerprintOf(w.svids[1]!.material)).toBe(fingerprint(rotated));
    expect(after.accepted()).toBe(1);
  });

  it("reports PERMISSION_DENIED as no identity yet, and keeps trying", async () => {
    const path = socketPath();
    const server = new grpc.Server();
    let calls = 0;
    server.addService(loadWorkloadApiProto().SpiffeWorkloadAPI.service, {
      FetchX509SVID: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        calls++;
        call.emit("error", { code: grpc.status.PERMISSION_DENIED, details: "no identity issued" });
      },
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
    );
    cleanups.push(() => server.forceShutdown());
    const w = watch({ socket: `unix://${path}` } as WorkloadApiServer);
    await waitFor(() => calls >= 3, { timeoutMs: 5000, message: "not retried" });
    expect(w.failures[0]?.reason).toBe("the agent has no identity for this workload (yet) (PERMISSION_DENIED: no identity issued)");
  });

  it("stops cleanly: no stream, no retry, nothing reported after", async () => {
    const path = socketPath();
    const server = await agent(path, first);
    const w = watch(server);
    await waitFor(() => w.svids.length === 1, { timeoutMs: 5000, message: "no first SVID" });
    w.stop();
    await server.stop();
    await new Promise((r) => setTimeout(r, 3 * FAST.maxMs));
    expect(w.failures).toEqual([]);
    const again = await agent(path, rotated);
    await new Promise((r) => setTimeout(r, 3 * FAST.maxMs));
    expect(again.accepted()).toBe(0);
    expect(w.svids).toHaveLength(1);
  });
});

describe("X509SvidSource", () => {
  it("opens with the first SVID and hands on rotations", async () => {
    const server = await agent(socketPath(), first);
    const source = await X509SvidSource.open({ socket: server.socket, section: SECTION, startupTimeoutMs: 5000, backoff: FAST });
    cleanups.push(() => source.stop());
    expect(fingerprintOf(source.current.material)).toBe(fingerprint(first));
    const rotations: X509Svid[] = [];
    source.onRotate((svid) => rotations.push(svid));
    server.push(svidResponse(rotated));
    await waitFor(() => rotations.length === 1, { timeoutMs: 5000, message: "the rotation was never handed on" });
    expect(fingerprintOf(source.current.material)).toBe(fingerprint(rotated));
  });

  it("fails after startup_timeout, naming the socket and why, when the agent never answers or is not there", async () => {
    const silent = await agent(socketPath());
    await expect(X509SvidSource.open({ socket: silent.socket, section: SECTION, startupTimeoutMs: 300, backoff: FAST })).rejects.toThrow(
      `${SECTION}: no X.509-SVID from ${silent.socket} within 0.3 s (no answer)`,
    );
    const absent = `unix://${join(dir, "nobody.sock")}`;
    await expect(X509SvidSource.open({ socket: absent, section: SECTION, startupTimeoutMs: 300, backoff: FAST })).rejects.toThrow(
      new RegExp(`^${SECTION.replace(/\./g, "\\.")}: no X\\.509-SVID from ${absent} within 0\\.3 s \\(UNAVAILABLE: .+\\)`),
    );
  });
});
