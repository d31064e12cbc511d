/** The config file's revision (`config_revision`): what a rolling deploy orders config files by. */
import { describe, expect, it } from "vitest";
import { parseConfig } from "./index.js";
import { problemsOf } from "./problems.fixture.js";

describe("config_revision", () => {
  it("is 0 when unset, and takes any non-negative integer", () => {
    expect(parseConfig({}).config_revision).toBe(0);
    expect(parseConfig({ config_revision: 0 }).config_revision).toBe(0);
    expect(parseConfig({ config_revision: 42 }).config_revision).toBe(42);
  });

  it.each([
    ["a negative number", -1],
    ["a fraction", 1.5],
    ["a string", "2"],
    ["a number past what JSON and the bucket hold exactly", 2 ** 53],
  ])("refuses %s, naming the field", (_, value) => {
    const problems = problemsOf(() => parseConfig({ config_revision: value }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^config_revision: /);
  });
});
