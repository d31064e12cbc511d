import { describe, expect, it } from "vitest";
import { breakGlassSecret } from "./break-glass.js";
import { ConfigError } from "./load.js";

const SECRET = "s3cret-Break-glass-0123456789";

describe("breakGlassSecret", () => {
  it("is the variable's value, or undefined when it is unset or empty", () => {
    expect(breakGlassSecret({ STS_AUDIT_TOKEN: SECRET }, "STS_AUDIT_TOKEN")).toBe(SECRET);
    expect(breakGlassSecret({}, "STS_AUDIT_TOKEN")).toBeUndefined();
    expect(breakGlassSecret({ STS_AUDIT_TOKEN: "" }, "STS_AUDIT_TOKEN")).toBeUndefined();
  });

  it.each([
    ["a trailing line break", `${SECRET}\n`],
    ["a tab inside", `${SECRET}\tx`],
    ["a leading space", ` ${SECRET}`],
    ["a trailing space", `${SECRET} `],
    ["a non-ASCII character", `${SECRET}é`],
    ["only spaces", "   "],
  ])("stops the start on %s, naming the variable and not the secret", (_what, value) => {
    let thrown: unknown;
    try {
      breakGlassSecret({ STS_POLICY_ADMIN_TOKEN: value }, "STS_POLICY_ADMIN_TOKEN");
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toContain("STS_POLICY_ADMIN_TOKEN");
    expect((thrown as Error).message).not.toContain(SECRET);
  });
});
