import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { tcpOpen } from "@sts/testkit";
import type { MetricsHandle } from "@sts/telemetry";
import { startHealth } from "./health.js";
import type { HealthListener } from "./health.js";

const opened: HealthListener[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((h) => h.close()));
});

/** A health listener on a free loopback port, closed after the test. */
async function listener(metrics?: MetricsHandle): Promise<HealthListener> {
  const health = await startHealth({ host: "127.0.0.1", port: 0, ...(metrics && { metrics }) });
  opened.push(health);
  return health;
}

/** One GET: status, body and cache-control. */
async function get(health: HealthListener, path: string): Promise<{ status: number; body: string; cacheControl: string | null }> {
  const res = await fetch(`http://127.0.0.1:${health.port}${path}`);
  return { status: res.status, body: await res.text(), cacheControl: res.headers.get("cache-control") };
}

const OK = { status: 200, body: "ok", cacheControl: "no-store" };
const NOT_READY = { status: 503, body: "not ready", cacheControl: "no-store" };
const NOT_LIVE = { status: 503, body: "not live", cacheControl: "no-store" };

describe("sidecar health listener", () => {
  it("answers live (/healthz 200) and not ready (/readyz 503) while the sidecar starts: waiting is no reason for a restart", async () => {
    const health = await listener();
    expect(await get(health, "/healthz")).toEqual(OK);
    expect(await get(health, "/readyz")).toEqual(NOT_READY);
    expect(await get(health, "/readyz?verbose")).toEqual(NOT_READY);
    expect((await get(health, "/other")).status).toBe(404);
  });

  it("serves /metrics from the start, and 404 without metrics", async () => {
    const scraped: string[] = [];
    const metrics: MetricsHandle = {
      scrape: (req, res) => {
        scraped.push(req.url ?? "");
        res.writeHead(200, { "content-type": "text/plain" }).end("sts_nats_connected 0\n");
      },
      shutdown: () => Promise.resolve(),
    };
    const health = await listener(metrics);
    expect(await get(health, "/metrics")).toMatchObject({ status: 200, body: "sts_nats_connected 0\n" });
    expect(scraped).toEqual(["/metrics"]);
    expect((await get(await listener(), "/metrics")).status).toBe(404);
  });

  it("follows the started sidecar's checks once handed over; not live is not ready either", async () => {
    const health = await listener();
    const state = { live: true, ready: true };
    health.started({ live: () => state.live, ready: () => state.ready });
    expect(await get(health, "/healthz")).toEqual(OK);
    expect(await get(health, "/readyz")).toEqual(OK);

    state.ready = false;
    expect(await get(health, "/healthz")).toEqual(OK);
    expect(await get(health, "/readyz")).toEqual(NOT_READY);

    state.ready = true;
    state.live = false;
    expect(await get(health, "/healthz")).toEqual(NOT_LIVE);
    expect(await get(health, "/readyz")).toEqual(NOT_READY);
  });

  it("stops listening on close, a probe's kept-alive connection included", async () => {
    const health = await listener();
    expect((await get(health, "/healthz")).status).toBe(200);
    await health.close();
    expect(await tcpOpen(health.port)).toBe(false);
  });

  it("fails to start, instead of crashing later, when its port is taken", async () => {
    const taken = createServer();
    const port = await new Promise<number>((resolve) => taken.listen(0, "127.0.0.1", () => resolve((taken.address() as AddressInfo).port)));
    try {
      await expect(startHealth({ host: "127.0.0.1", port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
