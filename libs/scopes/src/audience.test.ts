import { describe, expect, it } from "vitest";
import { MAX_AUDIENCES, MAX_AUDIENCE_LENGTH, audiencesWellFormed, grantAudiences, requestedAudiences, resourceWellFormed } from "./index.js";

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
    // C1 controls and broken UTF-16: the policy engine refuses both, so they are a malformed request here.
    expect(audiencesWellFormed(["svc\u0085b"])).toBe(false);
    expect(audiencesWellFormed(["svc-\ud800"])).toBe(false);
    expect(audiencesWellFormed(["svc-\udc00b"])).toBe(false);
    expect(audiencesWellFormed(["svc-é-😀"])).toBe(true);
    expect(audiencesWellFormed(["x".repeat(MAX_AUDIENCE_LENGTH + 1)])).toBe(false);
    expect(audiencesWellFormed(Array.from({ length: MAX_AUDIENCES + 1 }, (_, i) => `a${i}`))).toBe(false);
  });
});

describe("resourceWellFormed (RFC 8707 section 2)", () => {
  it.each(["https://api.example/data", "https://api.example/data?tenant=a", "urn:example:api", "spiffe://mesh/ns/a/sa/b", "https://h/%2F"])(
    "accepts the absolute URI %s",
    (value) => expect(resourceWellFormed(value)).toBe(true),
  );

  it.each([
    "svc-b",
    "/data",
    "//host/data",
    "https://api.example/data#x",
    "https://api.example/#",
    "1http://x",
    "https://a b",
    "https://x/%g0",
    "https://x/\\y",
    "",
  ])("refuses %j: not an absolute URI, or with a fragment", (value) => expect(resourceWellFormed(value)).toBe(false));
});
