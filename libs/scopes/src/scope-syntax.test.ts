import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { OAuthError } from "@sts/errors";
import {
  MAX_SCOPES,
  MAX_SCOPE_LENGTH,
  MAX_SCOPE_STRING_LENGTH,
  formatScopes,
  isTemplateRequest,
  isValidScope,
  parseScope,
  parseScopes,
  tryParseScope,
  tryParseScopes,
} from "./index.js";

/** The OAuthError a call throws, or fails the test. */
function oauthErrorOf(fn: () => unknown): OAuthError {
  try {
    fn();
  } catch (err) {
    if (err instanceof OAuthError) return err;
    throw err;
  }
  throw new Error("expected an OAuthError, nothing was thrown");
}

describe("parseScope kinds", () => {
  it.each([
    ["openid", { kind: "plain", value: "openid" }],
    ["a", { kind: "plain", value: "a" }],
    ["org.cilogon.userinfo", { kind: "plain", value: "org.cilogon.userinfo" }],
    ["storage.read", { kind: "plain", value: "storage.read" }],
    ["urn:foo:bar", { kind: "plain", value: "urn:foo:bar" }],
    ["read:data", { kind: "plain", value: "read:data" }],
    [":/x", { kind: "plain", value: ":/x" }],
    ["1read:/x", { kind: "plain", value: "1read:/x" }],
    // RFC 3986 §3.2 authority: a URL scope, opaque, even with dot segments inside.
    ["https://x/y", { kind: "plain", value: "https://x/y" }],
    ["https://x/a/../b", { kind: "plain", value: "https://x/a/../b" }],
    ["read://data", { kind: "plain", value: "read://data" }],
    ["read:/data/cern", { kind: "structured", name: "read", path: ["data", "cern"], value: "read:/data/cern" }],
    ["write:/home/jeff", { kind: "structured", name: "write", path: ["home", "jeff"], value: "write:/home/jeff" }],
    ["storage.read:/", { kind: "structured", name: "storage.read", path: [], value: "storage.read:/" }],
    ["read:/", { kind: "structured", name: "read", path: [], value: "read:/" }],
    ["read:/a...b/...", { kind: "structured", name: "read", path: ["a...b", "..."], value: "read:/a...b/..." }],
    ["read:", { kind: "template", name: "read", value: "read:" }],
    ["storage.create:", { kind: "template", name: "storage.create", value: "storage.create:" }],
  ])("%s", (token, expected) => {
    expect(parseScope(token)).toEqual(expected);
  });

  it("drops one trailing slash so a path has a single spelling", () => {
    expect(parseScope("read:/data/")).toEqual({ kind: "structured", name: "read", path: ["data"], value: "read:/data" });
    expect(parseScope("read:/data/cern/").value).toBe("read:/data/cern");
  });
});

describe("parseScope refusals (invalid_scope, RFC 6749 §5.2)", () => {
  it.each([
    ["empty token", ""],
    ["token longer than MAX_SCOPE_LENGTH", "x".repeat(MAX_SCOPE_LENGTH + 1)],
    ["structured token longer than MAX_SCOPE_LENGTH", `read:/${"a".repeat(MAX_SCOPE_LENGTH)}`],
    ["dot-dot segment", "read:/data/../etc"],
    ["dot-dot at the end", "read:/data/.."],
    ["dot-dot right after root", "read:/.."],
    ["dot segment", "read:/data/./x"],
    ["lone dot", "read:/."],
    ["empty segment", "read:/data//x"],
    ["two trailing slashes", "read:/data//"],
    ["encoded dot-dot", "read:/data/%2e%2e"],
    ["encoded dot-dot upper case", "read:/data/%2E%2E/etc"],
    ["encoded slash", "read:/data%2Fx"],
    ["encoded slash lower case", "read:/data%2fx"],
    ["any percent", "read:/100%"],
    ["query in path", "read:/data?x=1"],
    ["fragment in path", "read:/data#x"],
    ["dot-dot with a path parameter", "read:/data/cern/..;/..;/atlas"],
    ["path parameter", "read:/data;v=1"],
    ["backslash", "read:/a\\b"],
    ["backslash traversal", "read:/data\\..\\etc"],
    ["double quote", 'a"b'],
    ["space inside", "a b"],
    ["tab", "a\tb"],
    ["NUL", "read:/a\u0000b"],
    ["DEL", "read:/a\u007f"],
    ["newline", "read:/a\nb"],
    ["non-ASCII letter", "é"],
    ["non-ASCII in path", "read:/dätä"],
    ["fullwidth solidus", "read:/data\uff0f..\uff0fetc"],
    ["lone surrogate", "read:/\ud800"],
  ])("%s", (_name, token) => {
    const err = oauthErrorOf(() => parseScope(token));
    expect(err.code).toBe("invalid_scope");
    expect(tryParseScope(token)).toBeUndefined();
    expect(isValidScope(token)).toBe(false);
  });

  it("never echoes the input in the description", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 6, maxLength: 40 }), (s) => {
        const token = `read:/x${s}/..`;
        const err = oauthErrorOf(() => parseScope(token));
        return err.code === "invalid_scope" && !err.description.includes(token);
      }),
      { numRuns: 200 },
    );
  });

  it("either parses or throws invalid_scope for any string, never anything else", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40, unit: "binary" }), (s) => {
        try {
          const p = parseScope(s);
          return p.value.length > 0 && isValidScope(s);
        } catch (err) {
          return err instanceof OAuthError && err.code === "invalid_scope";
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("the scope parameter's characters (RFC 6749 section 3.3)", () => {
  // Separators other than 0x20, look-alikes of ASCII, invisible and control characters, and the two printable ASCII
  // characters scope-token leaves out.
  const foreign = fc.constantFrom(
    "\t",
    "\n",
    "\r",
    "\v",
    "\f",
    "\u0000",
    "\u0085",
    "\u00a0",
    "\u2028",
    "\u3000",
    "\u200b",
    "\ufeff",
    "é",
    "ｒ",
    "\u0430",
    '"',
    "\\",
  );
  const scopeChar = fc.constantFrom("a", "r", "e", "d", ":", "/", ".", "_", "-", " ");
  const parameter = fc.string({ unit: fc.oneof({ weight: 6, arbitrary: scopeChar }, { weight: 1, arbitrary: foreign }), maxLength: 30 });

  it("is taken only when every character is a space or a scope-token character: no other whitespace, no Unicode", () => {
    fc.assert(
      fc.property(parameter, (s) => {
        const parsed = tryParseScopes(s);
        const inGrammar = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/.test(s);
        if (!inGrammar) return parsed === undefined;
        // In the grammar, it is refused only for a path's spelling (`read:/a//b`, `read:/.`), never for a character.
        return parsed !== undefined || s.split(" ").some((t) => t !== "" && !isValidScope(t));
      }),
      { numRuns: 500 },
    );
  });

  it("the same holds for each entry of an array (RFC 9068 claim form), where a space inside an entry is refused too", () => {
    fc.assert(
      fc.property(fc.array(parameter, { maxLength: 4 }), (list) => {
        const parsed = tryParseScopes(list);
        return list.every((t) => /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(t)) || parsed === undefined;
      }),
      { numRuns: 300 },
    );
  });
});

describe("isTemplateRequest", () => {
  it("recognises name: only", () => {
    expect(isTemplateRequest("read:")).toBe(true);
    expect(isTemplateRequest("storage.modify:")).toBe(true);
    expect(isTemplateRequest("read:/")).toBe(false);
    expect(isTemplateRequest("read")).toBe(false);
    expect(isTemplateRequest("urn:")).toBe(true);
    expect(isTemplateRequest(":")).toBe(false);
    expect(isTemplateRequest("re ad:")).toBe(false);
    expect(isTemplateRequest(42)).toBe(false);
  });
});

describe("parseScopes", () => {
  it("splits on spaces, dedupes in first-seen order, canonicalises", () => {
    expect(parseScopes("b a  b")).toEqual(["b", "a"]);
    expect(parseScopes(" openid read:/data/ read:/data ")).toEqual(["openid", "read:/data"]);
    expect(parseScopes("read: read:/x")).toEqual(["read:", "read:/x"]);
  });

  it("accepts an array of tokens (RFC 9068 claim, DTI case)", () => {
    expect(parseScopes(["a", "b", "a"])).toEqual(["a", "b"]);
    expect(parseScopes([])).toEqual([]);
  });

  it("gives [] for nothing", () => {
    expect(parseScopes("")).toEqual([]);
    expect(parseScopes("   ")).toEqual([]);
    expect(parseScopes(undefined)).toEqual([]);
    expect(parseScopes(null)).toEqual([]);
  });

  it.each([
    ["a malformed token among good ones", "openid read:/a/../b"],
    ["a tab as separator", "a\tb"],
    ["a newline as separator", "a\nb"],
    ["an array entry holding a space", ["a b"]],
    ["an empty array entry", ["a", ""]],
    ["a non-string array entry", ["a", 1] as unknown as string[]],
    ["a number", 7 as unknown as string],
    ["an object", { scope: "a" } as unknown as string],
  ])("refuses %s", (_name, input) => {
    expect(oauthErrorOf(() => parseScopes(input)).code).toBe("invalid_scope");
    expect(tryParseScopes(input)).toBeUndefined();
  });

  it(`allows ${MAX_SCOPES} distinct scopes and refuses one more`, () => {
    const many = Array.from({ length: MAX_SCOPES + 1 }, (_, i) => `s${i}`);
    expect(parseScopes(many.slice(0, MAX_SCOPES))).toHaveLength(MAX_SCOPES);
    expect(parseScopes(many.slice(0, MAX_SCOPES).join(" "))).toHaveLength(MAX_SCOPES);
    expect(oauthErrorOf(() => parseScopes(many)).code).toBe("invalid_scope");
    expect(oauthErrorOf(() => parseScopes(many.join(" "))).description).toBe("too many scopes");
  });

  it("counts distinct scopes, not repetitions", () => {
    expect(parseScopes(Array.from({ length: MAX_SCOPES * 2 }, () => "a"))).toEqual(["a"]);
  });

  it("refuses a parameter longer than MAX_SCOPE_STRING_LENGTH before splitting", () => {
    const padded = `a${" ".repeat(MAX_SCOPE_STRING_LENGTH)}`;
    expect(oauthErrorOf(() => parseScopes(padded)).description).toBe("scope parameter is too long");
    const longArray = Array.from({ length: MAX_SCOPE_STRING_LENGTH }, () => "a");
    expect(oauthErrorOf(() => parseScopes(longArray)).description).toBe("scope parameter is too long");
    expect(parseScopes(`a${" ".repeat(MAX_SCOPE_STRING_LENGTH - 1)}`)).toEqual(["a"]);
  });

  it("fails closed on the first bad token with a fixed description", () => {
    const err = oauthErrorOf(() => parseScopes("openid read:/data/%2e%2e/secret"));
    expect(err.toJSON()).toEqual({ error: "invalid_scope", error_description: "scope path must not contain percent-encoding" });
  });
});

describe("formatScopes", () => {
  it("joins with single spaces", () => {
    expect(formatScopes(["openid", "read:/data"])).toBe("openid read:/data");
    expect(formatScopes([])).toBe("");
  });

  it("refuses a token that would smuggle another scope in (programmer error)", () => {
    expect(() => formatScopes(["read:/a write:/"])).toThrow(TypeError);
    expect(() => formatScopes([""])).toThrow(TypeError);
  });
});

// Canonical valid scopes over a small alphabet, for round-trip properties.
const canonicalScope = fc.oneof(
  fc.constantFrom("openid", "a", "org.cilogon.userinfo", "urn:x:y", "https://h/p", "read:"),
  fc
    .tuple(fc.constantFrom("read", "write", "storage.read"), fc.array(fc.stringMatching(/^[A-Za-z0-9_.-]{1,8}$/), { maxLength: 4 }))
    .filter(([, p]) => p.every((s) => s !== "." && s !== ".."))
    .map(([n, p]) => `${n}:/${p.join("/")}`),
);

describe("round trip", () => {
  it("parseScopes ∘ formatScopes is the identity on canonical, distinct lists", () => {
    fc.assert(
      fc.property(fc.uniqueArray(canonicalScope, { maxLength: MAX_SCOPES }), (list) => {
        expect(parseScopes(formatScopes(list))).toEqual(list);
        expect(parseScopes(list)).toEqual(list);
      }),
      { numRuns: 200 },
    );
  });

  it("formatScopes ∘ parseScopes is stable after one pass", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            canonicalScope,
            canonicalScope.map((s) => (s.endsWith("/") ? s : `${s}/`)),
          ),
        ),
        (list) => {
          const once = formatScopes(parseScopes(list));
          expect(formatScopes(parseScopes(once))).toBe(once);
        },
      ),
      { numRuns: 200 },
    );
  });
});
