import { afterEach, describe, expect, it } from "vitest";
import { tcpOpen, waitFor } from "@sts/testkit";
import type { Logger } from "@sts/telemetry";
import { startAdminServer } from "./admin.js";
import type { AdminServer } from "./admin.js";
import { startUnderProbes } from "./start-up.js";
import type { StartedService } from "./start-up.js";

const opened: AdminServer[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((a) => a.close()));
});

/** An admin server on a free loopback port, closed after the test. */
async function adminServer(): Promise<AdminServer> {
  const admin = await startAdminServer({ host: "127.0.0.1", port: 0 });
  opened.push(admin);
  return admin;
}

/** Status and body of one probe. */
async function probe(admin: AdminServer, path: "/healthz" | "/readyz"): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${admin.port}${path}`);
  return `${res.status} ${await res.text()}`;
}

/** A start-up that waits until the test lets it finish (as a service waits for NATS). */
function pendingStart(): { start: () => Promise<StartedService>; finish(service: StartedService): void; fail(err: Error): void } {
  let finish!: (service: StartedService) => void;
  let fail!: (err: Error) => void;
  const started = new Promise<StartedService>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return { start: () => started, finish, fail };
}

const stop = (): Promise<void> => Promise.resolve();

describe("startUnderProbes", () => {
  it("answers live and not ready while the service starts, then with the started service's checks", async () => {
    const admin = await adminServer();
    const pending = pendingStart();
    const starting = startUnderProbes(admin, pending.start);
    expect(await probe(admin, "/healthz")).toBe("200 ok");
    expect(await probe(admin, "/readyz")).toBe("503 not ready");

    const state = { ready: true };
    pending.finish({ checks: { live: () => true, ready: () => state.ready }, stop });
    expect(await starting).toMatchObject({ stop });
    expect(await probe(admin, "/readyz")).toBe("200 ok");
    state.ready = false;
    expect(await probe(admin, "/readyz")).toBe("503 not ready");
    expect(await probe(admin, "/healthz")).toBe("200 ok");
  });

  it("closes the admin server and rethrows when the start fails (fail closed: runMain ends the process)", async () => {
    const admin = await adminServer();
    const pending = pendingStart();
    const starting = startUnderProbes(admin, pending.start);
    expect(await probe(admin, "/healthz")).toBe("200 ok");
    pending.fail(new Error("nats: connection refused for good"));
    await expect(starting).rejects.toThrow("nats: connection refused for good");
    expect(await tcpOpen(admin.port)).toBe(false);
  });

  it("fails liveness once start-up is past its deadline, and answers the service's checks if it completes after all", async () => {
    const admin = await adminServer();
    const pending = pendingStart();
    const errors: string[] = [];
    const logger = { error: (_o: unknown, message: string) => errors.push(message) } as unknown as Logger;
    const starting = startUnderProbes(admin, pending.start, { deadlineSeconds: 0.05, logger });
    expect(await probe(admin, "/healthz")).toBe("200 ok");
    await waitFor(async () => (await probe(admin, "/healthz")) === "503 not live", { timeoutMs: 2_000, message: "still live past the deadline" });
    expect(errors).toEqual([expect.stringMatching(/startup_deadline/)]);
    pending.finish({ checks: { live: () => true, ready: () => true }, stop });
    await starting;
    expect([await probe(admin, "/healthz"), await probe(admin, "/readyz")]).toEqual(["200 ok", "200 ok"]);
  });

  it("arms no deadline for a start that completes in time, nor with 0", async () => {
    const admin = await adminServer();
    const checks = { live: () => true, ready: () => true };
    await startUnderProbes(admin, () => Promise.resolve({ checks, stop }), { deadlineSeconds: 0.05 });
    const unlimited = pendingStart();
    const other = await adminServer();
    const starting = startUnderProbes(other, unlimited.start, { deadlineSeconds: 0 });
    await new Promise((r) => setTimeout(r, 120));
    expect([await probe(admin, "/healthz"), await probe(other, "/healthz")]).toEqual(["200 ok", "200 ok"]);
    unlimited.finish({ checks, stop });
    await starting;
  });

  it("runs the start without an admin server when the service has none", async () => {
    const checks = { live: () => true, ready: () => true };
    await expect(startUnderProbes(undefined, () => Promise.resolve({ checks, stop }))).resolves.toEqual({ checks, stop });
    await expect(startUnderProbes(undefined, () => Promise.reject(new Error("bad config")))).rejects.toThrow("bad config");
  });
});
