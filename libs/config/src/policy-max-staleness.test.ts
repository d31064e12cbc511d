import { describe, expect, it } from "vitest";
import { parseConfig } from "./index.js";

describe("policy.max_staleness", () => {
  it("is 30 seconds by default and takes a duration", () => {
    expect(parseConfig({}).policy.max_staleness).toBe(30);
    expect(parseConfig({ policy: { max_staleness: "2m" } }).policy.max_staleness).toBe(120);
    expect(parseConfig({ policy: { max_staleness: 1 } }).policy.max_staleness).toBe(1);
  });

  it("refuses no bound at all, one past an hour, and what is not a duration, naming the field", () => {
    const problems = (max_staleness: unknown): unknown => {
      try {
        parseConfig({ policy: { max_staleness } });
        return undefined;
      } catch (err) {
        return (err as { problems?: string[] }).problems;
      }
    };
    expect(problems(0)).toEqual(["policy.max_staleness: at least 1 second: a replica refusing at every blip of NATS would fail every exchange"]);
    expect(problems("2h")).toEqual(["policy.max_staleness: at most 3600 seconds (1 hour): past it, a forbid may go unenforced that long"]);
    expect(problems("soon")).toEqual(['policy.max_staleness: expected a duration such as 300, "5m", "1h" or "7d"']);
  });
});
