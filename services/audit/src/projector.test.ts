import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_TYPES, EventPublisher, connectNats, ensureEventsStream } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { createLogger } from "@sts/telemetry";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { AuditStore } from "./audit-store.js";
import type { IncomingEvent } from "./audit-store.js";
import { Projector } from "./projector.js";

/** A real projection whose first commit fails, as a full disk would make it. */
class FailingOnceStore extends AuditStore {
  failures = 0;
  override append(events: readonly IncomingEvent[]): ReturnType<AuditStore["append"]> {
    if (this.failures === 0 && events.length > 0) {
      this.failures++;
      throw new Error("SQLITE_FULL: database or disk is full");
    }
    return super.append(events);
  }
}

const logger = createLogger("audit-test", { level: "silent" });
let server: NatsServerHandle;
let nats: NatsHandle;
let dir: string;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "projector-test" });
  await ensureEventsStream(nats);
  dir = mkdtempSync(join(tmpdir(), "sts-projector-"));
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("Projector", () => {
  it("survives a failed commit: the batch is handed back, redelivered and recorded once", async () => {
    const events = new EventPublisher(nats, { source: "test", logger });
    for (let i = 0; i < 3; i++) await events.publish(EVENT_TYPES.TOKEN_ISSUED, { jti: `j${i}`, sub: "s", client_id: "c" });
    const store = new FailingOnceStore(join(dir, "audit.db"));
    const projector = new Projector(nats, store, "projector-test", logger);
    try {
      await waitFor(() => store.size === 3, { timeoutMs: 15_000, message: "the failed batch was never recorded" });
      expect(store.failures).toBe(1);
      expect(store.query({}, 0, 10).map((r) => r.jti)).toEqual(["j0", "j1", "j2"]);
    } finally {
      await projector.stop();
    }
  });
});
