import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { loadWorkloadApiProto } from "@sts/proto";
import { makeTestCa, startWorkloadApiServer, svidResponse, waitFor } from "@sts/testkit";
import type { SvidFiles, WorkloadApiServer } from "@sts/testkit";
import type { X509Svid } from "./svid-material.js";
import type { StreamFailure } from "./workload-api.js";
import { X509SvidSource, X509SvidStreams, watchX509Svid } from "./workload-api.js";

const ID = "spiffe://mesh.test/ns/shop/sa/svc-a";
const SECTION = "sidecars.svc-a.tls.workload_api";
// Streams in these tests never stay up long enough to reset the backoff, unless a test says so.
const FAST = { initialMs: 20, maxMs: 200, resetAfterMs: 60_000 };

let dir: string;
let first: SvidFiles;
let rotated: SvidFiles;
/** Out of date since yesterday: refused by the checks. */
let expired: SvidFiles;
const cleanups: Array<() => unknown> = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-wl-api-"));
  const ca = makeTestCa(dir, "mesh-ca");
  first = { ...ca.issue("svc-a-1", ID), ca_file: ca.ca_file, spiffeId: ID };
  rotated = { ...ca.issue("svc-a-2", ID), ca_file: ca.ca_file, spiffeId: ID };
  const day = 86_400_000;
  const validity = { notBefore: new Date(Date.now() - 3 * day), notAfter: new Date(Date.now() - day) };
  expired = { ...ca.issue("svc-a-expired", ID, { validity }), ca_file: ca.ca_file, spiffeId: ID };
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

/** A bare gRPC server on a fresh socket whose FetchX509SVID does what `handler` says: an agent misbehaving in its own way. */
const rawAgent = async (handler: (call: grpc.ServerWritableStream<unknown, unknown>) => void): Promise<{ socket: string }> => {
  const path = socketPath();
  const server = new grpc.Server();
  server.addService(loadWorkloadApiProto().SpiffeWorkloadAPI.service, { FetchX509SVID: handler });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  cleanups.push(() => server.forceShutdown());
  return { socket: `unix://${path}` };
};

/** Watches the agent on `server.socket`, recording what the watcher reports. */
const watch = (server: { socket: string }, backoff = FAST) => {
  const svids: X509Svid[] = [];
  const reloads: Array<{ applied: boolean; reason?: string }> = [];
  const failures: StreamFailure[] = [];
  const redactions: string[] = [];
  const stop = watchX509Svid({
    socket: server.socket,
    section: SECTION,
    backoff,
    onSvid: (svid) => svids.push(svid),
    onReload: (event) => reloads.push(event),
    onRedacted: (reason) => redactions.push(reason),
    onStreamFailure: (failure) => failures.push(failure),
  });
  cleanups.push(stop);
  return { svids, reloads, failures, redactions, stop };
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
    let calls = 0;
    const w = watch(
      await rawAgent((call) => {
        calls++;
        call.emit("error", { code: grpc.status.PERMISSION_DENIED, details: "no identity issued" });
      }),
    );
    await waitFor(() => calls >= 3, { timeoutMs: 5000, message: "not retried" });
    expect(w.failures[0]?.reason).toBe("the agent has no identity for this workload (yet) (PERMISSION_DENIED: no identity issued)");
    // Nothing was handed on, so nothing is redacted.
    expect(w.redactions).toEqual([]);
  });

  it("drops the SVID in use when the agent ends the stream with PERMISSION_DENIED (Workload API §5.2.1), and takes the next, even the same", async () => {
    const server = await agent(socketPath(), first);
    const w = watch(server);
    await waitFor(() => w.svids.length === 1, { timeoutMs: 5000, message: "no first SVID" });

    server.fail(grpc.status.PERMISSION_DENIED, "registration entry deleted");
    await waitFor(() => w.redactions.length === 1, { timeoutMs: 5000, message: "the redaction was never reported" });
    expect(w.redactions).toEqual(["PERMISSION_DENIED: registration entry deleted"]);
    // Still asked again: the agent may issue an identity later.
    await waitFor(() => w.failures.length >= 2, { timeoutMs: 5000, message: "not retried" });
    expect(w.failures.every((f) => f.retryInMs !== undefined)).toBe(true);
    expect(w.redactions).toHaveLength(1);

    // The very SVID that was redacted, sent again, is an identity again.
    server.push(svidResponse(first));
    await waitFor(() => w.svids.length === 2, { timeoutMs: 5000, message: "the SVID sent after the redaction was never taken" });
    expect(fingerprintOf(w.svids[1]!.material)).toBe(fingerprint(first));
  });

  it("drops the SVID in use on a response without any SVID (a redaction), but only refuses one that comes first", async () => {
    const server = await agent(socketPath(), first);
    const w = watch(server);
    await waitFor(() => w.svids.length === 1, { timeoutMs: 5000, message: "no first SVID" });
    server.push({ svids: [] });
    await waitFor(() => w.redactions.length === 1, { timeoutMs: 5000, message: "the redaction was never reported" });
    expect(w.redactions).toEqual(["a response without any SVID"]);
    server.push(svidResponse(first));
    await waitFor(() => w.svids.length === 2, { timeoutMs: 5000, message: "the SVID sent after the redaction was never taken" });

    const empty = await startWorkloadApiServer(socketPath(), { svids: [] });
    cleanups.push(() => empty.stop());
    const fresh = watch(empty);
    await waitFor(() => fresh.reloads.length === 1, { timeoutMs: 5000, message: "the empty response was never reported" });
    expect(fresh.reloads).toEqual([{ applied: false, reason: `${SECTION}: a response without any SVID` }]);
    expect(fresh.redactions).toEqual([]);
  });

  it("keeps backing off from an agent that answers and then drops every stream", async () => {
    const w = watch(
      await rawAgent((call) => {
        call.write({ svids: [] });
        call.end();
      }),
    );
    await waitFor(() => w.failures.length >= 4, { timeoutMs: 5000, message: "not retried" });
    // Ceilings 20, 40, 80, 160 ms, each delay at least half its own: the answers did not count as recovery.
    expect(w.failures[0]?.retryInMs).toBeLessThanOrEqual(FAST.initialMs);
    expect(w.failures[3]?.retryInMs).toBeGreaterThanOrEqual(80);
    expect(w.failures.every((f) => f.reason === "the agent ended the stream")).toBe(true);
  });

  it("starts the backoff again after a stream that stayed up resetAfterMs", async () => {
    const w = watch(
      await rawAgent((call) => {
        setTimeout(() => call.end(), 120);
      }),
      { ...FAST, resetAfterMs: 100 },
    );
    await waitFor(() => w.failures.length >= 3, { timeoutMs: 5000, message: "not retried" });
    expect(w.failures.every((f) => f.retryInMs !== undefined && f.retryInMs <= FAST.initialMs)).toBe(true);
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
    expect(fingerprintOf(source.current!.material)).toBe(fingerprint(first));
    const changes: Array<X509Svid | undefined> = [];
    source.onChange((svid) => changes.push(svid));
    server.push(svidResponse(rotated));
    await waitFor(() => changes.length === 1, { timeoutMs: 5000, message: "the rotation was never handed on" });
    expect(fingerprintOf(source.current!.material)).toBe(fingerprint(rotated));
  });

  it("holds no SVID once the agent redacts it, and the next one again", async () => {
    const server = await agent(socketPath(), first);
    const redactions: string[] = [];
    const source = await X509SvidSource.open({
      socket: server.socket,
      section: SECTION,
      startupTimeoutMs: 5000,
      backoff: FAST,
      onRedacted: (reason) => redactions.push(reason),
    });
    cleanups.push(() => source.stop());
    const changes: Array<X509Svid | undefined> = [];
    source.onChange((svid) => changes.push(svid));
    server.fail(grpc.status.PERMISSION_DENIED, "registration entry deleted");
    await waitFor(() => changes.length === 1, { timeoutMs: 5000, message: "the redaction was never handed on" });
    expect(changes).toEqual([undefined]);
    expect(source.current).toBeUndefined();
    expect(redactions).toEqual(["PERMISSION_DENIED: registration entry deleted"]);
    server.push(svidResponse(rotated));
    await waitFor(() => changes.length === 2, { timeoutMs: 5000, message: "the next SVID was never handed on" });
    expect(fingerprintOf(source.current!.material)).toBe(fingerprint(rotated));
    expect(source.stoppedBecause).toBeUndefined();
  });

  it("says why once the agent refuses the stream for good after startup (INVALID_ARGUMENT), keeping the SVID in use", async () => {
    const server = await agent(socketPath(), first);
    const source = await X509SvidSource.open({ socket: server.socket, section: SECTION, startupTimeoutMs: 5000, backoff: FAST });
    cleanups.push(() => source.stop());
    expect(source.stoppedBecause).toBeUndefined();
    server.fail(grpc.status.INVALID_ARGUMENT, "malformed request");
    await waitFor(() => source.stoppedBecause !== undefined, { timeoutMs: 5000, message: "the refusal was never noticed" });
    expect(source.stoppedBecause).toBe("INVALID_ARGUMENT: malformed request");
    expect(fingerprintOf(source.current!.material)).toBe(fingerprint(first));
    // For good: no new stream is opened.
    await new Promise((r) => setTimeout(r, 3 * FAST.maxMs));
    expect(server.accepted()).toBe(1);
  });

  it("rejects at once, and leaves no startup timer to fail later, when the stream cannot even be opened", async () => {
    vi.useFakeTimers();
    try {
      // grpc-js throws on a target it cannot parse, before watchX509Svid returns.
      const opening = X509SvidSource.open({ socket: "", section: SECTION, startupTimeoutMs: 1000, backoff: FAST });
      await expect(opening).rejects.toThrow(`${SECTION}: no X.509-SVID from  (the stream cannot be opened: Could not parse target name "")`);
      expect(() => vi.advanceTimersByTime(2000)).not.toThrow();
    } finally {
      vi.useRealTimers();
    }
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

describe("X509SvidStreams", () => {
  const GRPC_SECTION = "grpc_tls.workload_api";
  /** A source on `socket` under `section`, following the streams given, stopped after the test. */
  const openOn = async (socket: string, section: string, streams?: X509SvidStreams, startupTimeoutMs = 5000): Promise<X509SvidSource> => {
    const source = await X509SvidSource.open({ socket, section, startupTimeoutMs, backoff: FAST, ...(streams && { streams }) });
    cleanups.push(() => source.stop());
    return source;
  };

  it("has the sources on one socket follow one FetchX509SVID stream: both start with its SVID, and take each rotation and redaction", async () => {
    const server = await agent(socketPath(), first);
    const streams = new X509SvidStreams();
    const a = await openOn(server.socket, SECTION, streams);
    const b = await openOn(server.socket, GRPC_SECTION, streams);
    expect(server.accepted()).toBe(1);
    expect(b.current).toBe(a.current);
    const changes = { a: [] as Array<X509Svid | undefined>, b: [] as Array<X509Svid | undefined> };
    a.onChange((svid) => changes.a.push(svid));
    b.onChange((svid) => changes.b.push(svid));

    server.push(svidResponse(rotated));
    await waitFor(() => changes.a.length === 1 && changes.b.length === 1, { timeoutMs: 5000, message: "the rotation did not reach both" });
    expect([fingerprintOf(a.current!.material), fingerprintOf(b.current!.material)]).toEqual([fingerprint(rotated), fingerprint(rotated)]);
    server.push({ svids: [] });
    await waitFor(() => changes.a.length === 2 && changes.b.length === 2, { timeoutMs: 5000, message: "the redaction did not reach both" });
    expect([a.current, b.current]).toEqual([undefined, undefined]);
    expect(server.accepted()).toBe(1);
  });

  it("keeps the stream while a source follows it, closes it after the last, and opens a new one for the next source", async () => {
    const server = await agent(socketPath(), first);
    const streams = new X509SvidStreams();
    const a = await openOn(server.socket, SECTION, streams);
    const b = await openOn(server.socket, GRPC_SECTION, streams);
    a.stop();
    server.push(svidResponse(rotated));
    await waitFor(() => b.current !== undefined && fingerprintOf(b.current.material) === fingerprint(rotated), {
      timeoutMs: 5000,
      message: "the source left following lost the stream",
    });
    b.stop();
    const c = await openOn(server.socket, SECTION, streams);
    expect(fingerprintOf(c.current!.material)).toBe(fingerprint(rotated));
    expect(server.accepted()).toBe(2);
  });

  it("has a source that joins while the stream holds none wait for the next SVID, and word a refusal under its own section", async () => {
    const server = await agent(socketPath(), first);
    const streams = new X509SvidStreams();
    const a = await openOn(server.socket, SECTION, streams);
    server.push({ svids: [] });
    await waitFor(() => a.current === undefined, { timeoutMs: 5000, message: "the redaction was never handed on" });
    const reloads: Array<{ applied: boolean; reason?: string }> = [];
    const joining = X509SvidSource.open({
      socket: server.socket,
      section: GRPC_SECTION,
      startupTimeoutMs: 5000,
      backoff: FAST,
      streams,
      onReload: (event) => reloads.push(event),
    });
    server.push(svidResponse(expired));
    await waitFor(() => reloads.length === 1, { timeoutMs: 5000, message: "the refusal never reached the joining source" });
    expect(reloads[0]?.reason).toMatch(/^grpc_tls\.workload_api: x509_svid is not usable \(the leaf expired at /);
    server.push(svidResponse(rotated));
    const b = await joining;
    cleanups.push(() => b.stop());
    expect(fingerprintOf(b.current!.material)).toBe(fingerprint(rotated));
    expect(server.accepted()).toBe(1);
  });

  it("fails a source that joins a stream the agent refused for good with no SVID held, saying why", async () => {
    const server = await agent(socketPath(), first);
    const streams = new X509SvidStreams();
    const a = await openOn(server.socket, SECTION, streams);
    server.push({ svids: [] });
    server.fail(grpc.status.INVALID_ARGUMENT, "malformed request");
    await waitFor(() => a.stoppedBecause !== undefined, { timeoutMs: 5000, message: "the refusal was never noticed" });
    await expect(openOn(server.socket, GRPC_SECTION, streams)).rejects.toThrow(
      `${GRPC_SECTION}: no X.509-SVID from ${server.socket} (INVALID_ARGUMENT: malformed request)`,
    );
    expect(server.accepted()).toBe(1);
  });

  it("gives sources on other sockets, or opened without it, streams of their own", async () => {
    const [one, two] = [await agent(socketPath(), first), await agent(socketPath(), first)];
    const streams = new X509SvidStreams();
    await openOn(one.socket, SECTION, streams);
    await openOn(two.socket, GRPC_SECTION, streams);
    await openOn(one.socket, GRPC_SECTION);
    expect([one.accepted(), two.accepted()]).toEqual([2, 1]);
  });
});
