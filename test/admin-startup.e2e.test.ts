/**
 * A stack service's admin server while the service starts. It is up before
 * anything start-up waits for (NATS, the issuer's buckets), so that a
 * liveness probe finds a process at work (/healthz 200) instead of a refused
 * connection, which Kubernetes takes for a dead process and restarts, and
 * /readyz says 503 until the service serves. Real processes: nats-server is
 * down when the exchanger starts, and the issuer, the owner of the buckets
 * the exchanger binds to, starts only after the exchanger has been seen
 * waiting for them.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, grpcHealthy, startProcess, tcpOpen, waitFor } from "@sts/testkit";
import type { ProcessHandle } from "@sts/testkit";
import { ROOT, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { parseSamples, total } from "./prometheus.js";

let stack: Stack;
let exchanger: ProcessHandle | undefined;
let adminPort: number;
/** The exchanger's gRPC port, bound only once start-up is done. */
let grpcPort: number;

beforeAll(async () => {
  adminPort = await freePort();
  // nats-server only: the test starts the exchanger, and later the issuer, itself.
  stack = await startStack({ services: { exchanger: { admin_port: adminPort } } }, { services: [] });
  grpcPort = Number(stack.address.exchanger.split(":")[1]);
}, 60_000);

afterAll(async () => {
  await exchanger?.stop();
  await stack?.stop();
});

/** One GET on the exchanger's admin server: status and body. */
async function probe(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${adminPort}${path}`, { signal: AbortSignal.timeout(2_000) });
  return { status: res.status, body: await res.text() };
}

/** Whether the exchanger reports its NATS connection up (its own gauge, on /metrics). */
async function natsConnected(): Promise<boolean> {
  const scrape = await probe("/metrics");
  return scrape.status === 200 && total(parseSamples(scrape.body), "sts_nats_connected") === 1;
}

/**
 * The exchanger as the harness runs it, but taken for started once its admin port answers: the harness waits for
 * gRPC health, which a service waiting for NATS never reports.
 */
function startExchanger(): Promise<ProcessHandle> {
  return startProcess({
    name: "exchanger",
    command: process.execPath,
    args: ["--enable-source-maps", join(ROOT, "services/exchanger/dist/main.js")],
    env: stack.env,
    cwd: ROOT,
    ready: () => tcpOpen(adminPort),
    readyTimeoutMs: 10_000,
  });
}

describe("a starting stack service's admin server", () => {
  it("answers /healthz 200 and /readyz 503 while the exchanger waits for NATS and then for the issuer's buckets, and /readyz 200 once it serves", async () => {
    // Stopped, not removed: the same port and store come back with restart().
    await stack.nats.kill("SIGTERM");
    // Without NATS the exchanger cannot get further than connecting: its admin server must answer all the same.
    exchanger = await startExchanger();
    expect(await probe("/healthz")).toEqual({ status: 200, body: "ok" });
    expect(await probe("/readyz")).toEqual({ status: 503, body: "not ready" });
    expect(await tcpOpen(grpcPort)).toBe(false);
    // Its metrics say why: the connection gauge is there from the start, at 0 while the first connect waits.
    const waiting = parseSamples((await probe("/metrics")).body).filter((s) => s.name === "sts_nats_connected");
    expect(waiting.map((s) => s.value)).toEqual([0]);

    await stack.nats.restart();
    await waitFor(natsConnected, { timeoutMs: 10_000, message: "exchanger not connected to NATS after it came up" });
    // Connected, it waits for the buckets only the issuer creates: still live, still not ready, serving nothing.
    expect(await probe("/healthz")).toEqual({ status: 200, body: "ok" });
    expect(await probe("/readyz")).toEqual({ status: 503, body: "not ready" });
    expect(await tcpOpen(grpcPort)).toBe(false);

    await stack.start("issuer");
    await waitFor(async () => (await probe("/readyz")).status === 200, { timeoutMs: 10_000, message: "exchanger not ready once the issuer made its buckets" });
    expect(await probe("/readyz")).toEqual({ status: 200, body: "ok" });
    expect(await probe("/healthz")).toEqual({ status: 200, body: "ok" });
    // Serving: its gRPC health says so too.
    expect(await grpcHealthy(stack.address.exchanger, "", 1_000)).toBe(true);
  }, 60_000);
});

describe("a stack service stopped while it starts", () => {
  it("exits at once on SIGTERM (status 0), closing its admin server: node as a container's PID 1 would ignore an unhandled one", async () => {
    await exchanger?.stop();
    exchanger = undefined;
    await stack.nats.kill("SIGTERM");
    try {
      const starting = (exchanger = await startExchanger());
      expect(await probe("/healthz")).toEqual({ status: 200, body: "ok" });
      // Without a handler Node dies of the signal itself (exit value "SIGTERM"); with one it stops cleanly.
      expect(await starting.kill("SIGTERM")).toBe(0);
      expect(await tcpOpen(adminPort)).toBe(false);
    } finally {
      await stack.nats.restart();
    }
  }, 30_000);
});
