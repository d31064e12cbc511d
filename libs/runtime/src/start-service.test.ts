/**
 * A service's whole life under its probes, as main.ts runs it: the admin
 * server up first, the service's checks once it serves, not ready while it
 * stops, and closed after it, even when stopping fails.
 */
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { configSchema } from "@sts/config";
import { freePort, tcpOpen, waitFor } from "@sts/testkit";
import { startTelemetry } from "./index.js";

/** Status and body of one probe. */
async function probe(port: number, path: "/healthz" | "/readyz"): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return `${res.status} ${await res.text()}`;
}

/** startService for a service whose stop() waits until the test lets it finish (or fails). */
async function service(): Promise<{ port: number; stop: () => Promise<void>; release(err?: Error): void }> {
  const port = await freePort();
  const { telemetry } = startTelemetry("start-service-test", configSchema.parse({ telemetry: { log_level: "silent" } }), {
    admin: { host: "127.0.0.1", port },
  });
  let release!: (err?: Error) => void;
  const stopped = new Promise<void>((resolve, reject) => {
    release = (err) => (err ? reject(err) : resolve());
  });
  const stop = await telemetry.startService(() => Promise.resolve({ checks: { live: () => true, ready: () => true }, stop: () => stopped }), {
    signals: false,
  });
  return { port, stop, release };
}

describe("startService", () => {
  it("answers live and no longer ready while the service stops, then closes the admin server", async () => {
    const s = await service();
    expect(await probe(s.port, "/readyz")).toBe("200 ok");
    const stopping = s.stop();
    expect([await probe(s.port, "/healthz"), await probe(s.port, "/readyz")]).toEqual(["200 ok", "503 not ready"]);
    s.release();
    await stopping;
    expect(await tcpOpen(s.port)).toBe(false);
  });

  it("closes the admin server when the service fails to stop, and reports the failure", async () => {
    const s = await service();
    const stopping = s.stop();
    s.release(new Error("nats drain timed out"));
    await expect(stopping).rejects.toThrow("nats drain timed out");
    expect(await tcpOpen(s.port)).toBe(false);
  });
});

describe("startService with its admin port taken", () => {
  it("fails the start naming the config field, and runs nothing", async () => {
    const port = await freePort();
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, "127.0.0.1", resolve));
    try {
      const { telemetry } = startTelemetry("start-service-test", configSchema.parse({ telemetry: { log_level: "silent" } }), {
        admin: { host: "127.0.0.1", port },
        adminField: "sidecars.svc-a.health",
      });
      let started = false;
      const start = () => {
        started = true;
        return Promise.resolve({ checks: { live: () => true, ready: () => true }, stop: () => Promise.resolve() });
      };
      await expect(telemetry.startService(start, { signals: false })).rejects.toThrow(
        /^sidecars\.svc-a\.health: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/,
      );
      expect(started).toBe(false);
    } finally {
      squatter.close();
    }
  });
});

describe("startService's deadline", () => {
  it("is the config's startup_deadline: past it /healthz fails while start-up still waits", async () => {
    const port = await freePort();
    const config = configSchema.parse({ startup_deadline: 1, telemetry: { log_level: "silent" } });
    const { telemetry } = startTelemetry("start-service-test", config, { admin: { host: "127.0.0.1", port } });
    let finish!: () => void;
    const waiting = new Promise<void>((resolve) => (finish = resolve));
    const starting = telemetry.startService(
      async () => {
        await waiting;
        return { checks: { live: () => true, ready: () => true }, stop: () => Promise.resolve() };
      },
      { signals: false },
    );
    await waitFor(() => tcpOpen(port), { timeoutMs: 2_000, message: "admin server not up" });
    expect(await probe(port, "/healthz")).toBe("200 ok");
    await waitFor(async () => (await probe(port, "/healthz")) === "503 not live", { timeoutMs: 5_000, message: "still live past startup_deadline" });
    finish();
    const stop = await starting;
    expect(await probe(port, "/healthz")).toBe("200 ok");
    await stop();
  });
});
