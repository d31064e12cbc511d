/**
 * A sidecar's probes while it starts. Its health listener is up before
 * anything the sidecar waits for (NATS, the issuer's revocations bucket), so
 * that a liveness probe finds a process at work (/healthz 200) instead of a
 * refused connection, which Kubernetes takes for a dead process and
 * restarts, and /readyz says 503 until the sidecar serves. Real processes:
 * nats-server is down when the sidecar starts, and the issuer, the bucket's
 * owner, starts only after the sidecar has been seen waiting for its bucket.
 */
import { createServer } from "node:http";
import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, tcpOpen, waitFor } from "@sts/testkit";
import type { ProcessHandle } from "@sts/testkit";
import { startSidecar, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, workloadClients } from "./chain.js";
import { parseSamples, total } from "./prometheus.js";

let stack: Stack;
let sidecar: ProcessHandle | undefined;
let workload: HttpServer;
const port = { inbound: 0, outbound: 0, health: 0 };

beforeAll(async () => {
  workload = createServer((_req, res) => res.writeHead(200).end("ok"));
  const workloadPort = await new Promise<number>((resolve) => workload.listen(0, "127.0.0.1", () => resolve((workload.address() as AddressInfo).port)));
  for (const k of ["inbound", "outbound", "health"] as const) port[k] = await freePort();
  stack = await startStack(
    {
      clients: workloadClients("svc-a"),
      sidecars: {
        "svc-a": {
          inbound: { port: port.inbound },
          outbound: { port: port.outbound },
          upstream: `http://127.0.0.1:${workloadPort}`,
          routes: {},
          health: { port: port.health },
        },
      },
    },
    // nats-server only: the test starts the issuer when it wants the bucket to appear.
    { services: [] },
  );
}, 60_000);

afterAll(async () => {
  await sidecar?.stop();
  workload?.close();
  await stack?.stop();
});

/** One GET on the sidecar's health listener: status and body. */
async function probe(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port.health}${path}`, { signal: AbortSignal.timeout(2_000) });
  return { status: res.status, body: await res.text() };
}

/** Whether the sidecar reports its NATS connection up (its own gauge, on /metrics). */
async function natsConnected(): Promise<boolean> {
  const scrape = await probe("/metrics");
  return scrape.status === 200 && total(parseSamples(scrape.body), "sts_nats_connected") === 1;
}

describe("a starting sidecar's probes", () => {
  it("answer /healthz 200 and /readyz 503 while it waits for NATS and then for the issuer's revocations bucket, and /readyz 200 once it serves", async () => {
    // Stopped, not removed: the same port and store come back with restart().
    await stack.nats.kill("SIGTERM");
    // Without NATS the sidecar cannot get further than connecting: its health listener must be up all the same.
    sidecar = await startSidecar(stack, "svc-a", SECRET, () => tcpOpen(port.health));
    expect(await probe("/healthz")).toEqual({ status: 200, body: "ok" });
    expect(await probe("/readyz")).toEqual({ status: 503, body: "not ready" });
    expect(await tcpOpen(port.inbound)).toBe(false);

    await stack.nats.restart();
    await waitFor(natsConnected, { timeoutMs: 10_000, message: "sidecar not connected to NATS after it came up" });
    // Connected, it waits for the bucket only the issuer creates: still live, still not ready, serving nothing.
    expect(await probe("/healthz")).toEqual({ status: 200, body: "ok" });
    expect(await probe("/readyz")).toEqual({ status: 503, body: "not ready" });
    expect(await tcpOpen(port.inbound)).toBe(false);

    await stack.start("issuer");
    await waitFor(async () => (await probe("/readyz")).status === 200, { timeoutMs: 10_000, message: "sidecar not ready once the issuer made its bucket" });
    expect(await probe("/readyz")).toEqual({ status: 200, body: "ok" });
    expect(await probe("/healthz")).toEqual({ status: 200, body: "ok" });
    // Serving: a call without a token is refused by the inbound listener (RFC 6750 §3), not left unanswered.
    const refused = await fetch(`http://127.0.0.1:${port.inbound}/work`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toMatch(/^Bearer /);
  }, 60_000);
});
