import { afterEach, describe, expect, it } from "vitest";
import { tcpOpen } from "@sts/testkit";
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

  it("runs the start without an admin server when the service has none", async () => {
    const checks = { live: () => true, ready: () => true };
    await expect(startUnderProbes(undefined, () => Promise.resolve({ checks, stop }))).resolves.toEqual({ checks, stop });
    await expect(startUnderProbes(undefined, () => Promise.reject(new Error("bad config")))).rejects.toThrow("bad config");
  });
});
