import { describe, expect, it } from "vitest";
import { runRate } from "./load.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("runRate (open loop)", () => {
  it("sends the offered rate, not as fast as answers come", async () => {
    let calls = 0;
    const r = await runRate("t", 200, 16, 500, async () => void calls++, 100);
    // 100 ms of warm-up and 500 ms measured at 200/s: 20 + 100 calls, 100 recorded.
    expect(calls).toBe(120);
    expect(r.requests).toBe(100);
    expect(r.rps).toBe(200);
  });

  it("counts latency from the scheduled start, so a server slower than the rate shows its queue", async () => {
    // One slot, 10 ms per call, 200 calls/s offered: each call starts later than scheduled.
    const r = await runRate("t", 200, 1, 300, () => sleep(10), 0);
    expect(r.p50).toBeGreaterThan(100);
    expect(r.max).toBeGreaterThan(r.p50);
  });

  it("counts failures as errors, not as latencies", async () => {
    let i = 0;
    const r = await runRate(
      "t",
      100,
      4,
      300,
      async () => {
        if (i++ % 2 === 0) throw new Error("no");
      },
      0,
    );
    expect(r.errors).toBe(15);
    expect(r.requests).toBe(15);
  });
});
