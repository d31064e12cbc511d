/**
 * The staleness bounds (SECURITY.md: bounded staleness, then fail closed) measured on a clock that no wall-clock step
 * makes younger: NTP stepping the clock back (or a VM restored from a snapshot) must not let a verifier answer from a
 * cut-off or stale copy past its bound; a suspended machine's sleep still counts. The guard's own default clock, moved
 * by fake timers; and a real watched copy on a real nats-server, whose confirmation the guard reads.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { KvCache, connectNats, openBucket, stalenessNow } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { startNats } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { StalenessGuard } from "./revocation-list.js";
import type { ConnectionStatus } from "./revocation-list.js";

const MAX_STALENESS_MS = 30_000;
const HOUR_MS = 3_600_000;

const status = (connected: boolean): ConnectionStatus => ({ isConnected: () => connected, onStatusChange: () => undefined });

/** Whether the guard refuses (temporarily_unavailable) rather than answering from the copy. */
function refuses(check: () => void): boolean {
  try {
    check();
    return false;
  } catch (err) {
    if ((err as { code?: unknown }).code !== "temporarily_unavailable") throw err;
    return true;
  }
}

/** Sets the wall clock `byMs` off, as NTP or a restored snapshot does; the monotonic clock is untouched. */
function stepWallClock(byMs: number): void {
  vi.setSystemTime(Date.now() + byMs);
}

afterEach(() => {
  vi.useRealTimers();
});

describe("StalenessGuard's clock", () => {
  it("keeps counting a cut from NATS when the wall clock is stepped back", () => {
    vi.useFakeTimers({ toFake: ["Date", "performance"] });
    const guard = new StalenessGuard(status(false), MAX_STALENESS_MS);
    vi.advanceTimersByTime(20_000);
    expect(refuses(() => guard.check())).toBe(false);
    stepWallClock(-HOUR_MS);
    vi.advanceTimersByTime(11_000);
    expect(refuses(() => guard.check())).toBe(true);
  });

  it("keeps aging a copy when the wall clock is stepped back", () => {
    vi.useFakeTimers({ toFake: ["Date", "performance"] });
    const guard = new StalenessGuard(status(true), MAX_STALENESS_MS);
    const copy = { confirmedAt: stalenessNow(), probeIntervalMs: 0 };
    vi.advanceTimersByTime(20_000);
    expect(refuses(() => guard.check(copy))).toBe(false);
    stepWallClock(-HOUR_MS);
    vi.advanceTimersByTime(11_000);
    expect(refuses(() => guard.check(copy))).toBe(true);
  });

  it("counts the time a machine was suspended: the wall clock moved on, the monotonic clock did not", () => {
    vi.useFakeTimers({ toFake: ["Date", "performance"] });
    const guard = new StalenessGuard(status(true), MAX_STALENESS_MS);
    const copy = { confirmedAt: stalenessNow(), probeIntervalMs: 0 };
    stepWallClock(MAX_STALENESS_MS + 1_000);
    expect(refuses(() => guard.check(copy))).toBe(true);
  });
});

describe("a watched copy's confirmation", () => {
  let server: NatsServerHandle;
  let nats: NatsHandle;

  beforeAll(async () => {
    server = await startNats();
    nats = await connectNats({ servers: server.url, name: "staleness-clock-test" });
  }, 30_000);

  afterAll(async () => {
    await nats?.close();
    await server?.stop();
  });

  it("ages on the guard's clock: a copy confirmed before the wall clock is stepped back is refused past the bound", async () => {
    const kv = await openBucket(nats, "test_staleness_clock");
    await kv.put("k", JSON.stringify({ n: 1 }));
    // No probe during the test: the copy is confirmed once, by its load.
    const cache = new KvCache(kv, { parse: (v) => v as { n: number }, invalid: "forget", probeIntervalMs: HOUR_MS });
    try {
      await cache.ready();
      const copy = { confirmedAt: cache.confirmedAt, probeIntervalMs: 0 };
      expect(copy.confirmedAt).toBeDefined();
      // From here the test moves time itself; the copy holds what it loaded. The fake performance clock starts again
      // at 0 (a real monotonic clock never goes back), so the time it drops is moved on again.
      const monotonicDropped = performance.now();
      vi.useFakeTimers({ toFake: ["Date", "performance"] });
      const guard = new StalenessGuard(status(true), MAX_STALENESS_MS);
      expect(refuses(() => guard.check(copy))).toBe(false);
      stepWallClock(-HOUR_MS);
      vi.advanceTimersByTime(monotonicDropped + MAX_STALENESS_MS + 1_000);
      expect(refuses(() => guard.check(copy))).toBe(true);
    } finally {
      vi.useRealTimers();
      cache.stop();
    }
  });
});
