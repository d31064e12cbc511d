import { describe, expect, it } from "vitest";
import fc from "fast-check";
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
  it.each([
    "https://api.example/data",
    "https://api.example/data?tenant=a",
    "urn:example:api",
    "spiffe://mesh/ns/a/sa/b",
    "https://h/%2F",
    // RFC 3986 §3.2.2 IP-literal hosts: the one place `[` and `]` belong.
    "https://[2001:db8::1]/api",
    "https://[::1]:8443/data?tenant=a",
    "https://[v1.fe]",
  ])("accepts the absolute URI %s", (value) => expect(resourceWellFormed(value)).toBe(true));

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
    // Brackets anywhere but around an authority's host, or not closed before the path.
    "https://h/[::1]",
    "https://[::1",
    "https://[::1]x/",
    "https://[::1]]/",
    "urn:[x]",
  ])("refuses %j: not an absolute URI, or with a fragment", (value) => expect(resourceWellFormed(value)).toBe(false));

  it("accepts every IPv6 literal host an URL parser reads as one (RFC 3986 section 3.2.2)", () => {
    fc.assert(
      fc.property(fc.ipV6(), fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }), (address, port) => {
        const value = `https://[${address}]${port === undefined ? "" : `:${port}`}/api`;
        // The premise: it is a URL with that host.
        expect(new URL(value).hostname.startsWith("[")).toBe(true);
        expect(resourceWellFormed(value)).toBe(true);
      }),
    );
  });
});
