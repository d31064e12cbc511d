import { describe, expect, it } from "vitest";
import { parseConfig } from "./index.js";

describe("startup_deadline", () => {
  it("is 10 minutes by default, takes a duration, and 0 for no limit", () => {
    expect(parseConfig({}).startup_deadline).toBe(600);
    expect(parseConfig({ startup_deadline: "2m" }).startup_deadline).toBe(120);
    expect(parseConfig({ startup_deadline: 0 }).startup_deadline).toBe(0);
  });

  it("refuses a deadline no timer can wait for (it would fire at once), naming the field", () => {
    expect(parseConfig({ startup_deadline: 2_147_483 }).startup_deadline).toBe(2_147_483);
    expect(() => parseConfig({ startup_deadline: "30d" })).toThrow(
      expect.objectContaining({
        name: "ConfigError",
        problems: ["startup_deadline: at most 2147483 seconds (about 24 days), the longest a timer waits"],
      }) as Error,
    );
  });
});
