import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { covers, equalScopeSets, intersectScopes, isValidScope, isWithin, tryParseScope } from "./index.js";

describe("covers", () => {
  it.each([
    // [granted, requested, covered]
    ["openid", "openid", true],
    ["a", "ab", false],
    ["ab", "a", false],
    ["storage.read", "storage.read:/", false],
    ["storage.read:/", "storage.read", false],
    ["urn:x:y", "urn:x:y", true],
    ["urn:x", "urn:x:y", false],
    ["https://h/p", "https://h/p/q", false],
    ["read:/data/cern", "read:/data/cern", true],
    ["read:/data/cern", "read:/data/cern/run7", true],
    ["read:/data/cern", "read:/data/cern/run7/file", true],
    ["read:/data/cern", "read:/data/cernX", false],
    ["read:/data/cern", "read:/data/cern-old/run7", false],
    ["read:/data/cern/run7", "read:/data/cern", false],
    ["read:/data/cern", "read:/data", false],
    ["read:/data/cern", "write:/data/cern/run7", false],
    ["read:/data/cern", "storage.read:/data/cern", false],
    ["read:/", "read:/", true],
    ["read:/", "read:/anything/below", true],
    ["read:/", "write:/x", false],
    ["read:/x", "read:/", false],
    // `name://…` is a URL (RFC 3986 authority), opaque: no path arithmetic.
    ["read:/", "read://data", false],
    ["read://data", "read://data/x", false],
    // One trailing slash is the same path.
    ["read:/data/", "read:/data/cern", true],
    ["read:/data", "read:/data/", true],
    // Templates are requests, never grants, not even of themselves.
    ["read:", "read:", false],
    ["read:", "read:/x", false],
    ["read:/", "read:", false],
    // Malformed tokens never cover, even when equal.
    ["read:/data/..", "read:/data/..", false],
    ["read:/data", "read:/data/%2e%2e", false],
    ["read:/data", "read:/data/../etc", false],
    ["read:/data", "read:/data//x", false],
    ["read:/data", "read:/data\\x", false],
    ["read:/data", "read:/data/é", false],
    ["a b", "a b", false],
    ["", "", false],
  ])("covers(%j, %j) is %s", (granted, requested, expected) => {
    expect(covers(granted, requested)).toBe(expected);
  });
});

describe("WLCG group scopes name a group, not a place (WLCG Common JWT Profiles §3.1, §3.3)", () => {
  it.each([
    // [granted, requested, covered]
    ["wlcg.groups:/cms", "wlcg.groups:/cms", true],
    ["wlcg.groups:/cms/", "wlcg.groups:/cms", true],
    // Membership of /cms/uscms is not implied by membership of /cms.
    ["wlcg.groups:/cms", "wlcg.groups:/cms/uscms", false],
    ["wlcg.groups:/", "wlcg.groups:/cms", false],
    ["wlcg.groups:/cms/uscms", "wlcg.groups:/cms", false],
    // The production capability set holds more than the group's.
    ["wlcg.capabilityset:/dune", "wlcg.capabilityset:/dune/pro", false],
    // Another name is still a path.
    ["wlcg.groupsX:/cms", "wlcg.groupsX:/cms/uscms", true],
  ])("covers(%j, %j) is %s", (granted, requested, expected) => {
    expect(covers(granted, requested)).toBe(expected);
  });

  it("are never narrowed to a subgroup, by a request or by the chain of an exchange", () => {
    expect(intersectScopes(["wlcg.groups:/cms/uscms"], ["wlcg.groups:/cms"])).toEqual([]);
    expect(intersectScopes(["wlcg.groups:/cms"], ["wlcg.groups:/cms/uscms"])).toEqual([]);
    expect(intersectScopes(["wlcg.capabilityset:/dune/pro", "wlcg.groups:/cms/"], ["wlcg.capabilityset:/dune", "wlcg.groups:/cms"])).toEqual([
      "wlcg.groups:/cms",
    ]);
    expect(isWithin(["wlcg.groups:/cms/uscms"], ["wlcg.groups:/"])).toBe(false);
  });

  it("keep the path's one spelling: no dot segments, escapes or empty segments", () => {
    for (const token of ["wlcg.groups:/cms/../atlas", "wlcg.groups:/cms/%2e%2e", "wlcg.groups:/cms//x", "wlcg.capabilityset:/dune/."]) {
      expect(isValidScope(token)).toBe(false);
    }
    expect(tryParseScope("wlcg.groups:/cms/uscms/")).toEqual({ kind: "plain", value: "wlcg.groups:/cms/uscms" });
  });
});

describe("isWithin", () => {
  it("holds when every scope has a cover in the bound", () => {
    expect(isWithin(["read:/data/cern/run7", "openid"], ["openid", "read:/data/cern"])).toBe(true);
    expect(isWithin(["read:/data/cernX"], ["read:/data/cern"])).toBe(false);
    expect(isWithin(["openid", "profile"], ["openid"])).toBe(false);
    expect(isWithin([], [])).toBe(true);
    expect(isWithin(["a"], [])).toBe(false);
    expect(isWithin(["read:"], ["read:/"])).toBe(false);
    expect(isWithin(["read:/x/../y"], ["read:/"])).toBe(false);
  });
});

describe("intersectScopes", () => {
  it.each([
    ["plain scopes by equality", ["a", "b", "d"], ["c", "b", "a"], ["a", "b"]],
    ["nothing in common", ["a"], ["b"], []],
    ["empty request", [], ["a"], []],
    ["empty allowance", ["a"], [], []],
    ["narrower request kept", ["read:/data/cern/run7"], ["read:/data/cern"], ["read:/data/cern/run7"]],
    ["broader request narrowed to the allowance", ["read:/data"], ["read:/data/cern", "read:/data/lhc", "read:/home"], ["read:/data/cern", "read:/data/lhc"]],
    ["string-prefix sibling refused", ["read:/data/cernX"], ["read:/data/cern"], []],
    ["string-prefix sibling not yielded", ["read:/data/cern"], ["read:/data/cernX"], []],
    ["name must match", ["write:/data"], ["read:/"], []],
    ["root allowance", ["read:/a", "read:/b/c"], ["read:/"], ["read:/a", "read:/b/c"]],
    ["root request", ["read:/"], ["read:/a", "write:/b"], ["read:/a"]],
    ["redundant entries collapse", ["read:/a/b", "read:/a"], ["read:/"], ["read:/a"]],
    ["duplicates once", ["a", "a", "read:/x/", "read:/x"], ["a", "read:/"], ["a", "read:/x"]],
    ["requested order first", ["c", "read:/d", "a"], ["a", "read:/d/2", "read:/d/1", "c"], ["c", "read:/d/2", "read:/d/1", "a"]],
    ["template requests are not expanded here", ["read:", "openid"], ["read:/", "openid", "read:"], ["openid"]],
    ["malformed request entries contribute nothing", ["read:/a/../b", "read:/a/%2e"], ["read:/"], []],
    ["malformed allowance entries contribute nothing", ["read:/a/../b", "read:/a"], ["read:/a/../b"], []],
    ["plain is not structured", ["storage.read"], ["storage.read:/"], []],
    ["urn scopes by equality", ["urn:x:y", "urn:x"], ["urn:x:y"], ["urn:x:y"]],
  ])("%s", (_name, requested, allowed, expected) => {
    expect(intersectScopes(requested, allowed)).toEqual(expected);
  });

  it("chains for token exchange: requested ∩ subject ∩ policy never exceeds the subject", () => {
    const subject = ["openid", "read:/data/cern", "write:/home/jeff"];
    const policy = ["read:/data", "write:/home/jeff/out"];
    const granted = intersectScopes(intersectScopes(["read:/", "write:/home", "admin"], subject), policy);
    expect(granted).toEqual(["read:/data/cern", "write:/home/jeff/out"]);
    expect(isWithin(granted, subject)).toBe(true);
  });
});

describe("equalScopeSets", () => {
  it("ignores order, duplicates and a trailing slash", () => {
    expect(equalScopeSets(["a", "read:/x/"], ["read:/x", "a", "a"])).toBe(true);
    expect(equalScopeSets(["a"], ["a", "b"])).toBe(false);
    expect(equalScopeSets(["read:/x"], ["read:/x/y"])).toBe(false);
    expect(equalScopeSets([], [])).toBe(true);
  });
});

// Small alphabets so that equal names, shared prefixes and string-prefix siblings are frequent.
const segment = fc.constantFrom("data", "cern", "cernX", "run7", "home", "jeff", "a", "ab");
const path = fc.array(segment, { maxLength: 4 });
const structured = fc.tuple(fc.constantFrom("read", "write", "storage.read"), path).map(([n, p]) => `${n}:/${p.join("/")}`);
const plain = fc.constantFrom("openid", "a", "ab", "read", "storage.read", "urn:x:y", "https://h/p", "wlcg.groups:/cms", "wlcg.groups:/cms/uscms");
const grantable = fc.oneof(structured, plain);
/** Also templates, trailing-slash spellings and malformed tokens, which must never widen anything. */
const noisy = fc.oneof(
  { weight: 6, arbitrary: grantable },
  { weight: 1, arbitrary: fc.constantFrom("read:", "write:", "read:/data/", "read:/data/..", "read:/%2e", "read:/a//b", "a b", "") },
);
const scopeSet = fc.uniqueArray(grantable, { maxLength: 8 });
const noisySet = fc.array(noisy, { maxLength: 8 });

describe("properties", () => {
  it("the intersection is within both inputs", () => {
    fc.assert(
      fc.property(noisySet, noisySet, (r, a) => {
        const i = intersectScopes(r, a);
        return isWithin(i, r) && isWithin(i, a);
      }),
    );
  });

  it("the intersection is the meet: whatever both inputs cover, it covers", () => {
    fc.assert(
      fc.property(noisySet, noisySet, grantable, (r, a, probe) => {
        const i = intersectScopes(r, a);
        return !(isWithin([probe], r) && isWithin([probe], a)) || isWithin([probe], i);
      }),
      { numRuns: 300 },
    );
  });

  it("the intersection holds no entry covered by another", () => {
    fc.assert(
      fc.property(noisySet, noisySet, (r, a) => {
        const i = intersectScopes(r, a);
        return new Set(i).size === i.length && i.every((s) => !i.some((o) => o !== s && covers(o, s)));
      }),
    );
  });

  it("intersecting a set with itself covers exactly that set", () => {
    fc.assert(
      fc.property(scopeSet, (x) => {
        const i = intersectScopes(x, x);
        return isWithin(i, x) && isWithin(x, i);
      }),
    );
  });

  it("intersection is commutative up to coverage and deterministic", () => {
    fc.assert(
      fc.property(scopeSet, scopeSet, (r, a) => {
        const ra = intersectScopes(r, a);
        const ar = intersectScopes(a, r);
        return isWithin(ra, ar) && isWithin(ar, ra) && JSON.stringify(ra) === JSON.stringify(intersectScopes(r, a));
      }),
    );
  });

  it("intersection is commutative up to coverage on noisy input too (templates, malformed, trailing slashes)", () => {
    fc.assert(
      fc.property(noisySet, noisySet, (r, a) => {
        const ra = intersectScopes(r, a);
        const ar = intersectScopes(a, r);
        return isWithin(ra, ar) && isWithin(ar, ra);
      }),
    );
  });

  it("intersection is idempotent: narrowing a grant again by the same allowance changes nothing", () => {
    fc.assert(
      fc.property(noisySet, noisySet, (r, a) => {
        const once = intersectScopes(r, a);
        expect(intersectScopes(once, a)).toEqual(once);
        expect(intersectScopes(once, once)).toEqual(once);
      }),
    );
  });

  it("intersection is monotone: asking for more never yields less, a wider allowance never grants less", () => {
    fc.assert(fc.property(noisySet, noisySet, noisySet, (r, more, a) => isWithin(intersectScopes(r, a), intersectScopes([...r, ...more], a))));
    fc.assert(fc.property(noisySet, noisySet, noisySet, (r, a, more) => isWithin(intersectScopes(r, a), intersectScopes(r, [...a, ...more]))));
  });

  it("intersection is associative up to coverage: the exchange's requested ∩ subject ∩ policy in any grouping", () => {
    fc.assert(
      fc.property(noisySet, noisySet, noisySet, (x, y, z) => {
        const left = intersectScopes(intersectScopes(x, y), z);
        const right = intersectScopes(x, intersectScopes(y, z));
        return isWithin(left, right) && isWithin(right, left);
      }),
    );
  });

  it("the intersection holds only canonical, well-formed scopes", () => {
    fc.assert(fc.property(noisySet, noisySet, (r, a) => intersectScopes(r, a).every((s) => isWithin([s], [s]) && (!s.endsWith("/") || s.endsWith(":/")))));
  });

  it("covers is reflexive on grantable scopes", () => {
    fc.assert(fc.property(grantable, (x) => covers(x, x)));
  });

  it("covers is transitive", () => {
    fc.assert(
      fc.property(noisy, noisy, noisy, (x, y, z) => !(covers(x, y) && covers(y, z)) || covers(x, z)),
      { numRuns: 500 },
    );
  });

  it("covers is antisymmetric on canonical scopes", () => {
    fc.assert(fc.property(grantable, grantable, (x, y) => !(covers(x, y) && covers(y, x)) || x === y));
  });

  it("a descendant path is covered", () => {
    fc.assert(
      fc.property(structured, segment, (s, seg) => {
        const child = s.endsWith("/") ? `${s}${seg}` : `${s}/${seg}`;
        return covers(s, child) && !covers(child, s);
      }),
    );
  });

  it("a string-prefix sibling is never covered, in either direction", () => {
    fc.assert(
      fc.property(structured, fc.constantFrom("X", "1", "-old", ".bak", "_"), (s, suffix) => {
        fc.pre(!s.endsWith("/"));
        const sibling = s + suffix;
        return !covers(s, sibling) && !covers(sibling, s) && intersectScopes([sibling], [s]).length === 0;
      }),
    );
  });
});
