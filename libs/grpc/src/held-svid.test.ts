import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { makeTestCa, startWorkloadApiServer, svidResponse, waitFor } from "@sts/testkit";
import type { SvidFiles, TestCa, WorkloadApiServer } from "@sts/testkit";
import { HeldSvid } from "./held-svid.js";
import type { X509Svid } from "./svid-material.js";
import { X509SvidStreams } from "./workload-api.js";

const ID = "spiffe://mesh.test/ns/shop/sa/svc-a";
const SECTION = "sidecars.svc-a.tls.workload_api";
const FAST = { initialMs: 20, maxMs: 200, resetAfterMs: 60_000 };

let dir: string;
let ca: TestCa;
let first: SvidFiles;
let rotated: SvidFiles;
const cleanups: Array<() => unknown> = [];

const issue = (name: string, validity?: { notBefore: Date; notAfter: Date }): SvidFiles => ({
  ...ca.issue(name, ID, validity && { validity }),
  ca_file: ca.ca_file,
  spiffeId: ID,
});

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-held-svid-"));
  ca = makeTestCa(dir, "mesh-ca");
  first = issue("first");
  rotated = issue("rotated");
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

let sockets = 0;
const agent = async (initial: SvidFiles): Promise<WorkloadApiServer> => {
  const server = await startWorkloadApiServer(join(dir, `agent-${++sockets}.sock`), svidResponse(initial));
  cleanups.push(() => server.stop());
  return server;
};

/** A holder on `server`'s socket, recording what it is told, closed after the test. */
const hold = async (server: WorkloadApiServer, section = SECTION, streams?: X509SvidStreams) => {
  const held = await HeldSvid.open({ socket: server.socket, section, startupTimeoutMs: 5000, backoff: FAST, streams }, "nothing without one");
  const told: string[] = [];
  const name = (svid: X509Svid | undefined): string => (svid ? new X509Certificate(svid.material.cert).serialNumber : "none");
  held.follow({
    applied: (svid, previous) => told.push(`applied ${name(svid)} after ${name(previous)}`),
    redacted: () => told.push("redacted"),
    expired: (svid) => told.push(`expired ${name(svid)}`),
  });
  cleanups.push(() => held.close());
  return { held, told };
};

const serial = (files: SvidFiles): string => new X509Certificate(readFileSync(files.cert_file)).serialNumber;

describe("HeldSvid", () => {
  it("starts with the first SVID, applies each new one after the one it replaces, and drops the one the agent redacts", async () => {
    const server = await agent(first);
    const { held, told } = await hold(server);
    expect(new X509Certificate(held.first.material.cert).serialNumber).toBe(serial(first));
    expect(held.held()).toBe(true);

    server.push(svidResponse(rotated));
    await waitFor(() => told.length === 1, { timeoutMs: 5000, message: "the rotation was never applied" });
    server.push({ svids: [] });
    await waitFor(() => told.length === 2, { timeoutMs: 5000, message: "the redaction was never told" });
    expect(held.held()).toBe(false);
    server.push(svidResponse(first));
    await waitFor(() => told.length === 3, { timeoutMs: 5000, message: "the next SVID was never applied" });
    expect(told).toEqual([`applied ${serial(rotated)} after ${serial(first)}`, "redacted", `applied ${serial(first)} after none`]);
    expect([held.held(), held.renewable()]).toEqual([true, true]);
  });

  it("holds nothing past the notAfter of the SVID in use, tells its expiry when no new one came, and still a redaction after it", async () => {
    const short = issue("short", { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 1500) });
    const server = await agent(short);
    const { held, told } = await hold(server);
    expect(held.held(held.first.notAfter.getTime())).toBe(false);
    await waitFor(() => told.length === 1, { timeoutMs: 5000, message: "the expiry was never told" });
    expect(told).toEqual([`expired ${serial(short)}`]);
    expect(held.held()).toBe(false);
    // Connections made with it are still its own: a redaction must reach the holder to cut them.
    server.push({ svids: [] });
    await waitFor(() => told.length === 2, { timeoutMs: 5000, message: "the redaction after the expiry was never told" });
    expect(told[1]).toBe("redacted");
  });

  it("keeps each holder's SVID its own on a shared stream: one closing leaves the other following", async () => {
    const server = await agent(first);
    const streams = new X509SvidStreams();
    const a = await hold(server, SECTION, streams);
    const b = await hold(server, "grpc_tls.workload_api", streams);
    a.held.close();
    server.push(svidResponse(rotated));
    await waitFor(() => b.told.length === 1, { timeoutMs: 5000, message: "the rotation never reached the holder still following" });
    expect(a.told).toEqual([]);
    expect(server.accepted()).toBe(1);
  });
});
