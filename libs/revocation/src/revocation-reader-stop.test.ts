import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUCKETS, connectNats, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { startNats } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { openRevocationReader } from "./revocation-reader.js";

let server: NatsServerHandle;
let nats: NatsHandle;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "revocation-reader-stop-test" });
  await openBucket(nats, BUCKETS.revocations, { owner: true });
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.stop();
});

/** The real connection, counting the status listeners registered on it and not yet removed. */
function countingListeners(handle: NatsHandle): { handle: NatsHandle; active: () => number } {
  let active = 0;
  const counting: NatsHandle = {
    ...handle,
    onStatusChange: (cb) => {
      active++;
      const stop = handle.onStatusChange(cb);
      let stopped = false;
      return () => {
        if (!stopped) active--;
        stopped = true;
        stop();
      };
    },
  };
  return { handle: counting, active: () => active };
}

describe("a revocation reader that is stopped", () => {
  it("leaves no listener on the connection it was opened on (its copies' and its staleness guard's)", async () => {
    const connection = countingListeners(nats);
    const reader = await openRevocationReader(connection.handle, { maxStalenessMs: 30_000, clockToleranceSeconds: 30 });
    expect(connection.active()).toBeGreaterThan(0);
    reader.stop();
    expect(connection.active(), "status listeners still registered on the connection after stop").toBe(0);
  });
});
