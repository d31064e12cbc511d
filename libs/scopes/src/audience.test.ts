import { describe, expect, it } from "vitest";
import { MAX_AUDIENCES, MAX_AUDIENCE_LENGTH, audiencesWellFormed, grantAudiences, requestedAudiences } from "./index.js";

describe("grantAudiences", () => {
  it("keeps allowed values in the allowed order and defaults to the primary audience", () => {
    expect(grantAudiences(["c", "a"], ["a", "b", "c"])).toEqual(["a", "c"]);
    expect(grantAudiences([], ["a", "b"])).toEqual(["a"]);
    expect(grantAudiences([], [])).toEqual([]);
    expect(grantAudiences(["z"], ["a"])).toEqual([]);
  });
});

describe("requestedAudiences", () => {
  it("merges audience (RFC 8693) and resource (RFC 8707), deduplicated in first-seen order", () => {
    expect(requestedAudiences(["b", "a"], ["a", "https://r"])).toEqual(["b", "a", "https://r"]);
  });
});

describe("audiencesWellFormed", () => {
  it("enforces the limits and refuses empty or control-character values", () => {
    expect(audiencesWellFormed(["https://api"])).toBe(true);
    expect(audiencesWellFormed([""])).toBe(false);
    expect(audiencesWellFormed(["a\nb"])).toBe(false);
    expect(audiencesWellFormed(["x".repeat(MAX_AUDIENCE_LENGTH + 1)])).toBe(false);
    expect(audiencesWellFormed(Array.from({ length: MAX_AUDIENCES + 1 }, (_, i) => `a${i}`))).toBe(false);
  });
});
