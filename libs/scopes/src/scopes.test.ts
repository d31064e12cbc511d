import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { OAuthError } from "@sts/errors";
import { covers, formatScopes, grantAudiences, intersectScopes, isWithin, parseScope, parseScopes } from "./index.js";

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
    return "ok";
  } catch (err) {
    return err instanceof OAuthError ? err.code : "other";
  }
};

describe("parseScope", () => {
  it.each([
    ["openid", "plain"],
    ["org.cilogon.userinfo", "plain"],
    ["urn:example:scope", "plain"],
    ["read:/data/cern", "structured"],
    ["read:/", "structured"],
    ["read:", "template"],
  ])("%s is %s", (token, kind) => {
    expect(parseScope(token).kind).toBe(kind);
  });

  it.each([
    "read:/data/../etc",
    "read:/data/./x",
    "read:/data//x",
    "read:/data/",
    "read:/data/%2e%2e",
    "read:/data%2Fx",
    "read:/a\\b",
    'a"b',
    "x".repeat(300),
    "é",
  ])("refuses %s", (token) => {
    expect(codeOf(() => parseScope(token))).toBe("invalid_scope");
  });

  it("dedupes in order and accepts an array", () => {
    expect(parseScopes("b a  b")).toEqual(["b", "a"]);
    expect(parseScopes(["a", "b"])).toEqual(["a", "b"]);
    expect(parseScopes("")).toEqual([]);
    expect(codeOf(() => parseScopes(Array.from({ length: 65 }, (_, i) => `s${i}`)))).toBe("invalid_scope");
  });
});

describe("covers", () => {
  it("follows path segments, never string prefixes", () => {
    expect(covers("read:/data/cern", "read:/data/cern/run7")).toBe(true);
    expect(covers("read:/data/cern", "read:/data/cernX")).toBe(false);
    expect(covers("read:/data/cern", "write:/data/cern/run7")).toBe(false);
    expect(covers("read:/", "read:/anything/below")).toBe(true);
    expect(covers("read:/data/cern/run7", "read:/data/cern")).toBe(false);
    expect(covers("a", "a")).toBe(true);
    expect(covers("a", "ab")).toBe(false);
  });
});

describe("intersectScopes", () => {
  it("keeps what both allow, narrower side wins", () => {
    expect(intersectScopes(["a", "b", "d"], ["a", "b", "c"])).toEqual(["a", "b"]);
    expect(intersectScopes(["read:/data/cern/run7"], ["read:/data/cern"])).toEqual(["read:/data/cern/run7"]);
    expect(intersectScopes(["read:/data"], ["read:/data/cern", "read:/data/lhc"])).toEqual(["read:/data/cern", "read:/data/lhc"]);
    expect(intersectScopes(["read:/data/cernX"], ["read:/data/cern"])).toEqual([]);
  });
});

describe("grantAudiences", () => {
  it("keeps the client's order and defaults to the primary audience", () => {
    expect(grantAudiences(["c", "a"], ["a", "b", "c"])).toEqual(["a", "c"]);
    expect(grantAudiences([], ["a", "b"])).toEqual(["a"]);
    expect(grantAudiences(["z"], ["a"])).toEqual([]);
  });
});

// Property tests over a small alphabet so that overlaps and prefixes are frequent.
const segment = fc.constantFrom("data", "cern", "cernX", "run7", "home", "jeff");
const structured = fc.tuple(fc.constantFrom("read", "write"), fc.array(segment, { maxLength: 4 })).map(([n, p]) => `${n}:/${p.join("/")}`);
const scope = fc.oneof(structured, fc.constantFrom("a", "b", "c", "openid"));
const scopeSet = fc.uniqueArray(scope, { maxLength: 6 });

describe("properties", () => {
  it("the intersection is within both inputs", () => {
    fc.assert(
      fc.property(scopeSet, scopeSet, (r, a) => {
        const i = intersectScopes(r, a);
        return isWithin(i, r) && isWithin(i, a);
      }),
    );
  });

  it("intersecting with itself keeps exactly what it covers", () => {
    fc.assert(
      fc.property(scopeSet, (x) => {
        const i = intersectScopes(x, x);
        return isWithin(i, x) && isWithin(x, i);
      }),
    );
  });

  it("covers is reflexive and transitive", () => {
    fc.assert(fc.property(scope, scope, scope, (x, y, z) => covers(x, x) && (!(covers(x, y) && covers(y, z)) || covers(x, z))));
  });

  it("a string-prefix sibling is never covered", () => {
    fc.assert(fc.property(structured, fc.constantFrom("X", "1", "-old"), (s, suffix) => s.endsWith("/") || !covers(s, s + suffix)));
  });

  it("format and parse round-trip", () => {
    fc.assert(fc.property(scopeSet, (x) => JSON.stringify(parseScopes(formatScopes(x))) === JSON.stringify(x)));
  });
});
