import { describe, expect, it } from "vitest";
import { parseConfig } from "./index.js";
import { problemsOf } from "./problems.fixture.js";

describe("issuer (RFC 8414 §2)", () => {
  it.each([
    ["a query", "https://sts.example.org/?tenant=a"],
    ["an empty query", "https://sts.example.org/?"],
    ["a fragment", "https://sts.example.org/#top"],
    ["a scheme other than https", "urn:example:sts"],
    ["a script URL", "javascript:alert(1)"],
    ["plain http off this machine", "http://sts.example.org"],
  ])("refuses an issuer with %s, naming the field", (_what, issuer) => {
    const problems = problemsOf(() => parseConfig({ issuer }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^issuer: /);
  });

  it("refuses userinfo in the issuer, which every token's iss would publish, without repeating it", () => {
    const problems = problemsOf(() => parseConfig({ issuer: "https://ops:hunter2-secret@sts.example.org" }));
    expect(problems).toEqual(["issuer: no user or password in the URL: the issuer is published in the metadata and in every token's iss"]);
  });

  it("checks STS_ISSUER as it checks the file", () => {
    expect(problemsOf(() => parseConfig({}, { STS_ISSUER: "https://sts.example.org/#x" }))[0]).toMatch(/^issuer: no query or fragment/);
  });

  it.each(["https://sts.example.org", "https://sts.example.test/tenant-a/", "http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"])(
    "takes %s",
    (issuer) => {
      expect(parseConfig({ issuer }).issuer).toBe(issuer);
    },
  );

  it("keeps its default, a local stack's loopback address", () => {
    expect(parseConfig({}).issuer).toBe("http://127.0.0.1:8080");
  });
});
