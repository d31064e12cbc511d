import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { covers, expandScopeTemplates, isTemplateRequest, isValidScope, parseScope } from "./index.js";

const templates = { "read:": ["read:/home/public/data/cern"], "write:": ["write:/home/{sub}/data"] };

describe("expandScopeTemplates", () => {
  it("expands template requests for the user and keeps other scopes", () => {
    expect(expandScopeTemplates(["read:", "write:", "openid"], templates, "jeff")).toEqual(["read:/home/public/data/cern", "write:/home/jeff/data", "openid"]);
  });

  it("drops unknown templates and expansions a user id would bend", () => {
    expect(expandScopeTemplates(["delete:"], templates, "jeff")).toEqual([]);
    expect(expandScopeTemplates(["write:"], templates, "../root")).toEqual([]);
    expect(expandScopeTemplates(["write:"], templates, "a/b")).toEqual([]);
    expect(expandScopeTemplates(["write:", "read:"], templates, "..")).toEqual(["read:/home/public/data/cern"]);
  });
});

describe("expandScopeTemplates properties", () => {
  const user = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ maxLength: 12, unit: "binary" }),
    fc.constantFrom("", ".", "..", "...", "a b", "a/b", "a:b", "{sub}", "a%2Fb", "%2e%2e", "a\u0000", "jeff\n", "ａ", "é", "e\u0301", "x".repeat(129)),
  );

  it("a {sub} never changes a path's shape: one segment exactly where the template has it, or nothing", () => {
    fc.assert(
      fc.property(user, (sub) => {
        const out = expandScopeTemplates(["write:"], templates, sub);
        if (out.length === 0) return true;
        const [scope] = out;
        const parsed = parseScope(scope as string);
        return out.length === 1 && parsed.kind === "structured" && parsed.path.length === 3 && parsed.path[1] === sub && covers("write:/home", scope as string);
      }),
    );
  });

  it("never yields a malformed scope, a template, or a scope the pattern list did not name", () => {
    fc.assert(
      fc.property(user, (sub) =>
        expandScopeTemplates(
          ["read:", "write:"],
          { "read:": ["read:/{sub}", "{sub}", "read:/a/{sub}.{sub}"], "write:": ["write:/home/{sub}/data"] },
          sub,
        ).every((s) => isValidScope(s) && !isTemplateRequest(s) && (s.startsWith("read:/") || s.startsWith("write:/home/") || s === sub)),
      ),
    );
  });
});
