import { describe, expect, it } from "vitest";
import { serviceClock } from "./clock.js";

describe("serviceClock", () => {
  it("is the real clock without STS_CLOCK_OFFSET, or with a value that is not a number", () => {
    for (const env of [{}, { STS_CLOCK_OFFSET: "soon" }]) {
      const clock = serviceClock(env);
      expect(Math.abs(clock.nowMs() - Date.now())).toBeLessThan(1_000);
      expect(Math.abs(clock.now() - Date.now() / 1000)).toBeLessThan(2);
    }
  });

  it("shifts seconds and milliseconds alike by STS_CLOCK_OFFSET", () => {
    const ahead = serviceClock({ STS_CLOCK_OFFSET: "3600" });
    expect(Math.round((ahead.nowMs() - Date.now()) / 1000)).toBe(3600);
    // now() is whole seconds (as JWT times are): between the shifted floor of the real clock read before and after.
    for (const [offset, clock] of [
      [3600, ahead],
      [-90, serviceClock({ STS_CLOCK_OFFSET: "-90" })],
    ] as const) {
      const before = Math.floor(Date.now() / 1000);
      const shifted = clock.now();
      const after = Math.floor(Date.now() / 1000);
      expect(Number.isInteger(shifted)).toBe(true);
      expect(shifted).toBeGreaterThanOrEqual(before + offset);
      expect(shifted).toBeLessThanOrEqual(after + offset);
    }
  });
});
