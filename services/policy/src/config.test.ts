import { describe, expect, it } from "vitest";
import { readSettings } from "./config.js";

describe("readSettings: the break-glass credential", () => {
  it("is taken as set", () => {
    expect(readSettings({ STS_POLICY_ADMIN_TOKEN: "break-glass-0123456789" }).breakGlassToken).toBe("break-glass-0123456789");
  });

  it("stops the start when no caller could present it (a Secret written with echo), naming the variable", () => {
    expect(() => readSettings({ STS_POLICY_ADMIN_TOKEN: "break-glass-0123456789\n" })).toThrow(/STS_POLICY_ADMIN_TOKEN/);
  });
});
