import { createServer } from "node:http";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { tcpOpen } from "@sts/testkit";
import type { MetricsHandle } from "@sts/telemetry";
import { startAdminServer } from "./admin.js";
import type { AdminServer } from "./admin.js";

const opened: AdminServer[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((a) => a.close()));
});

/** An admin server on a free loopback port, closed after the test. */
async function adminServer(metrics?: MetricsHandle): Promise<AdminServer> {
  const admin = await startAdminServer({ host: "127.0.0.1", port: 0, ...(metrics && { metrics }) });
  opened.push(admin);
  return admin;
}

/** One request: status, body and cache-control. */
async function get(admin: AdminServer, path: string, method = "GET"): Promise<{ status: number; body: string; cacheControl: string | null }> {
  const res = await fetch(`http://127.0.0.1:${admin.port}${path}`, { method });
  return { status: res.status, body: await res.text(), cacheControl: res.headers.get("cache-control") };
}

const OK = { status: 200, body: "ok", cacheControl: "no-store" };
const NOT_READY = { status: 503, body: "not ready", cacheControl: "no-store" };
const NOT_LIVE = { status: 503, body: "not live", cacheControl: "no-store" };

/** A metrics pipeline that answers every scrape with one sample and records the scraped URLs. */
function fakeMetrics(scraped: string[]): MetricsHandle {
  return {
    scrape: (req, res) => {
      scraped.push(req.url ?? "");
      res.writeHead(200, { "content-type": "text/plain" }).end("sts_nats_connected 0\n");
    },
    shutdown: () => Promise.resolve(),
  };
}

describe("startAdminServer", () => {
  it("answers live (/healthz 200) and not ready (/readyz 503) while the process starts: waiting is no reason for a restart", async () => {
    const admin = await adminServer();
    expect(await get(admin, "/healthz")).toEqual(OK);
    expect(await get(admin, "/readyz")).toEqual(NOT_READY);
    expect(await get(admin, "/readyz?verbose")).toEqual(NOT_READY);
  });

  it("follows the started process's checks once handed over; not live is not ready either", async () => {
    const admin = await adminServer();
    const state = { live: true, ready: true };
    admin.started({ live: () => state.live, ready: () => state.ready });
    expect(await get(admin, "/healthz")).toEqual(OK);
    expect(await get(admin, "/readyz")).toEqual(OK);

    state.ready = false;
    expect(await get(admin, "/healthz")).toEqual(OK);
    expect(await get(admin, "/readyz")).toEqual(NOT_READY);

    // A process that will not recover on its own will not serve either, whatever its own readiness says.
    state.ready = true;
    state.live = false;
    expect(await get(admin, "/healthz")).toEqual(NOT_LIVE);
    expect(await get(admin, "/readyz")).toEqual(NOT_READY);
  });

  it("refuses anything but GET and HEAD with 405 and Allow, and other paths with 404", async () => {
    const admin = await adminServer();
    for (const method of ["POST", "PUT", "DELETE"]) {
      const res = await fetch(`http://127.0.0.1:${admin.port}/healthz`, { method });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, HEAD");
      expect(await res.text()).toBe("method not allowed");
    }
    expect(await get(admin, "/readyz", "HEAD")).toEqual({ status: 503, body: "", cacheControl: "no-store" });
    expect(await get(admin, "/elsewhere")).toEqual({ status: 404, body: "not found", cacheControl: "no-store" });
  });

  it("serves /metrics from the start when it has metrics, and 404 without", async () => {
    const scraped: string[] = [];
    const admin = await adminServer(fakeMetrics(scraped));
    expect(await get(admin, "/metrics")).toMatchObject({ status: 200, body: "sts_nats_connected 0\n" });
    expect(scraped).toEqual(["/metrics"]);
    expect(await get(admin, "/metrics", "POST")).toMatchObject({ status: 405 });
    expect(scraped).toEqual(["/metrics"]);
    expect(await get(await adminServer(), "/metrics")).toEqual({ status: 404, body: "not found", cacheControl: "no-store" });
  });

  it("stops listening on close, dropping a probe's kept-alive connection and a half-sent request", async () => {
    const admin = await adminServer();
    // fetch keeps its connection alive for the next request.
    expect((await get(admin, "/healthz")).status).toBe(200);
    const halfSent = connect(admin.port, "127.0.0.1");
    await once(halfSent, "connect");
    halfSent.write("GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    // Dropped, it is reset: the error is what this test waits for, not a failure.
    halfSent.on("error", () => undefined);
    const dropped = new Promise((resolve) => halfSent.once("close", resolve));
    // Without dropping them, close() would wait for the request timeout (10 s), past this test's budget.
    await admin.close();
    await dropped;
    expect(await tcpOpen(admin.port)).toBe(false);
  }, 5_000);

  it("fails to start, instead of crashing later, when its port is taken", async () => {
    const taken = createServer();
    const port = await new Promise<number>((resolve) => taken.listen(0, "127.0.0.1", () => resolve((taken.address() as AddressInfo).port)));
    try {
      await expect(startAdminServer({ host: "127.0.0.1", port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
