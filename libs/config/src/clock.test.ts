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
    expect(Math.round(ahead.now() - Date.now() / 1000)).toBe(3600);
    expect(Math.round(serviceClock({ STS_CLOCK_OFFSET: "-90" }).now() - Date.now() / 1000)).toBe(-90);
  });
});
