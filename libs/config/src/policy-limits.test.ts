import { describe, expect, it } from "vitest";
import { parseConfig } from "./index.js";

/** What the config schema says of `policy.<field>: value`, or undefined when it takes it. */
function problems(field: string, value: unknown): unknown {
  try {
    parseConfig({ policy: { [field]: value } });
    return undefined;
  } catch (err) {
    return (err as { problems?: string[] }).problems;
  }
}

describe("policy.max_staleness", () => {
  it("is 30 seconds by default and takes a duration", () => {
    expect(parseConfig({}).policy.max_staleness).toBe(30);
    expect(parseConfig({ policy: { max_staleness: "2m" } }).policy.max_staleness).toBe(120);
    expect(parseConfig({ policy: { max_staleness: 1 } }).policy.max_staleness).toBe(1);
  });

  it("refuses no bound at all, one past an hour, and what is not a duration, naming the field", () => {
    expect(problems("max_staleness", 0)).toEqual([
      "policy.max_staleness: at least 1 second: a replica refusing at every blip of NATS would fail every exchange",
    ]);
    expect(problems("max_staleness", "2h")).toEqual(["policy.max_staleness: at most 3600 seconds (1 hour): past it, a forbid may go unenforced that long"]);
    expect(problems("max_staleness", "soon")).toEqual(['policy.max_staleness: expected a duration such as 300, "5m", "1h" or "7d"']);
  });
});

describe("policy.max_policies", () => {
  it("is 1000 by default and takes a whole number up to the ceiling", () => {
    expect(parseConfig({}).policy.max_policies).toBe(1000);
    expect(parseConfig({ policy: { max_policies: 2000 } }).policy.max_policies).toBe(2000);
  });

  it("refuses a bound whose policy.updated event could not fit in one NATS message, and none at all, naming the field", () => {
    expect(problems("max_policies", 2001)).toEqual([
      "policy.max_policies: at most 2000: each policy.updated event lists every id in force, and must fit in one NATS message",
    ]);
    expect(problems("max_policies", 0)).toEqual([expect.stringMatching(/^policy\.max_policies: /)]);
    expect(problems("max_policies", 1.5)).toEqual([expect.stringMatching(/^policy\.max_policies: /)]);
  });
});
