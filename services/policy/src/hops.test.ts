import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isWithin } from "@sts/scopes";
import { PolicyEngine } from "./cedar-engine.js";
import type { DecideInput } from "./cedar-engine.js";
import { cedarString, compileHops, hopPolicyId } from "./hops.js";
import { compileConfigHops } from "./policy-text.js";

// The policy API's id rule (services/policy/src/policy-store.ts): compiled ids must be editable through Put.
const API_ID = /^[A-Za-z0-9._:/@-]{1,200}$/;

const input = (over: Partial<DecideInput> = {}): DecideInput => ({
  clientId: "A",
  audience: "B",
  requestedScopes: ["b"],
  subject: { sub: "alice", clientId: "app", iss: "https://sts.example", scopes: ["b"], audience: ["A"] },
  depth: 1,
  actors: [],
  callerInAudience: true,
  ...over,
});

/** The principal and resource ids a policy text really constrains, as Cedar parses it. */
function head(text: string): { principal: unknown; resource: unknown; effect: string; conditions: number } {
  const r = cedar.policyToJson(text);
  if (r.type !== "success") throw new Error(r.errors.map((e) => e.message).join("; "));
  return { principal: r.json.principal, resource: r.json.resource, effect: r.json.effect, conditions: r.json.conditions.length };
}

describe("compileHops", () => {
  it("compiles a hop into two readable, valid policies", () => {
    const [exchange, scopes, ...rest] = compileHops([{ from: "A", to: "B", scopes: ["b", "c", "read:/data/cern"], default_scopes: ["b"], max_depth: 2 }]);
    expect(rest).toEqual([]);
    expect(exchange).toEqual({
      id: "hop/A/B/exchange",
      text: [
        '@id("hop/A/B/exchange")',
        '@default_scope("b")',
        '@max_depth("2")',
        '@narrow_to("read:/data/cern")',
        "permit (",
        '  principal == Client::"A",',
        '  action == Action::"exchange",',
        '  resource == Audience::"B"',
        ")",
        "when { context.caller_in_audience };",
      ].join("\n"),
      description:
        'Config hop: client "A" may exchange tokens for audience "B" (scopes: b c read:/data/cern; default scopes: b; max depth 2; the caller must be in the subject token\'s audience)',
    });
    expect(scopes!.id).toBe("hop/A/B/scopes");
    expect(scopes!.text).toBe(
      [
        '@id("hop/A/B/scopes")',
        "permit (",
        '  principal == Client::"A",',
        '  action == Action::"request_scope",',
        '  resource == Audience::"B"',
        ")",
        "when {",
        '  ["b", "c"].contains(context.scope) ||',
        '  context.scope == "read:/data/cern" || context.scope like "read:/data/cern/*"',
        "};",
      ].join("\n"),
    );
    for (const p of [exchange!, scopes!]) expect(PolicyEngine.validatePolicy(p.text, { id: p.id })).toEqual({ ok: true });
  });

  it("defaults default_scopes to scopes and require_caller_in_audience to true; omits what is not set", () => {
    const [plain] = compileHops([{ from: "A", to: "B", scopes: ["b", "read:/x/"] }]);
    expect(plain!.text).toContain('@default_scope("b read:/x")');
    expect(plain!.text).not.toContain("@max_depth");
    expect(plain!.text).not.toContain("context.depth");
    const [open] = compileHops([{ from: "A", to: "B", scopes: ["b"], default_scopes: [], require_caller_in_audience: false }]);
    expect(open!.text).not.toContain("@default_scope");
    expect(open!.text).not.toContain("caller_in_audience");
    expect(open!.text).toContain('@any_presenter("true")');
    const e = new PolicyEngine(compileHops([{ from: "A", to: "B", scopes: ["b"], require_caller_in_audience: false }]));
    expect(e.decide(input({ callerInAudience: false }))).toMatchObject({ allow: true, allowedScopes: ["b"] });
  });

  it("compiles a hop without scopes into the exchange permit alone", () => {
    const compiled = compileHops([{ from: "A", to: "B", scopes: [] }]);
    expect(compiled.map((p) => p.id)).toEqual(["hop/A/B/exchange"]);
    expect(new PolicyEngine(compiled).decide(input())).toMatchObject({ allow: true, allowedScopes: [], defaultScopes: [] });
  });

  it("allows down-scoping below a structured scope by whole segments only, with `*` taken literally", () => {
    const e = new PolicyEngine(compileHops([{ from: "A", to: "B", scopes: ["read:/data/cern", "read:/a*b", "storage.write:/"] }]));
    const d = e.decide(
      input({
        requestedScopes: ["read:/data/cern/run7", "read:/data/cern", "read:/data/cernX", "read:/data", "read:/a*b/c", "read:/aZb/c", "storage.write:/any/path"],
      }),
    );
    expect(d.allowedScopes).toEqual(["read:/data/cern/run7", "read:/data/cern", "read:/a*b/c", "storage.write:/any/path"]);
  });

  it("allows under a root `name:/` every path, but not a `name://host/…` URL, which the scope arithmetic keeps apart", () => {
    const e = new PolicyEngine(compileHops([{ from: "A", to: "B", scopes: ["read:/", "write:/data"] }]));
    const d = e.decide(input({ requestedScopes: ["read:/x/y", "read:/", "read://evil.example/x", "read://", "write://data/x"] }));
    expect(d.allowedScopes).toEqual(["read:/x/y", "read:/"]);
  });

  it("allows exactly the scopes the scope arithmetic puts within the hop's (libs/scopes covers)", () => {
    const segment = fc.constantFrom("data", "cern", "cernX", "a*b", "");
    const path = fc.array(segment, { maxLength: 3 }).map((p) => p.filter((s) => s.length > 0));
    const structured = fc.tuple(fc.constantFrom("read", "write"), path).map(([n, p]) => `${n}:/${p.join("/")}`);
    const other = fc.constantFrom("read", "openid", "urn:x:y", "read://data", "read://data/cern", "https://h/p", "read:data");
    const scope = fc.oneof(structured, other);
    fc.assert(
      fc.property(fc.uniqueArray(scope, { minLength: 1, maxLength: 4 }), fc.uniqueArray(scope, { minLength: 1, maxLength: 6 }), (allowed, asked) => {
        const e = new PolicyEngine(compileHops([{ from: "A", to: "B", scopes: allowed, default_scopes: [] }]));
        const d = e.decide(input({ requestedScopes: asked }));
        // Each asked scope is granted as asked exactly when it is within the hop's; narrower substitutes are the hop's own.
        return asked.every((s) => d.allowedScopes.includes(s) === isWithin([s], allowed)) && isWithin(d.allowedScopes, allowed);
      }),
      { numRuns: 150 },
    );
  });

  it("compiles a hop with hundreds of structured scopes into a policy cedar-wasm can evaluate (one chain of || overflowed its stack)", () => {
    const scopes = Array.from({ length: 300 }, (_, i) => `read:/d/s${i}`);
    const compiled = compileConfigHops([{ from: "A", to: "B", scopes, default_scopes: [] }]);
    const e = new PolicyEngine(compiled);
    for (let round = 0; round < 2; round++) {
      const d = e.decide(input({ requestedScopes: ["read:/d/s1/x", "read:/d/s299", "read:/d/s300", "read:/d"] }));
      // read:/d is narrowed to every scope of the hop (@narrow_to), each once.
      expect(d).toMatchObject({ allow: true, allowedScopes: ["read:/d/s1/x", "read:/d/s299", ...scopes.filter((s) => s !== "read:/d/s299")], errors: [] });
    }
  });

  it("refuses hops the operator cannot have meant", () => {
    const bad: unknown[] = [
      { from: "", to: "B", scopes: ["b"] },
      { from: "A\nB", to: "B", scopes: ["b"] },
      { from: "A", to: "B\u0085", scopes: ["b"] },
      { from: "A", to: "B", scopes: ["has space"] },
      { from: "A", to: "B", scopes: ['quote"'] },
      { from: "A", to: "B", scopes: ["read:"] },
      { from: "A", to: "B", scopes: ["read:/a/../b"] },
      { from: "A", to: "B", scopes: ["b"], default_scopes: ["c"] },
      { from: "A", to: "B", scopes: ["read:/data/cern"], default_scopes: ["read:/data"] },
      { from: "A", to: "B", scopes: ["b"], max_depth: 0 },
      { from: "A", to: "B", scopes: ["b"], max_depth: 1.5 },
    ];
    for (const hop of bad) expect(() => compileHops([hop as never]), JSON.stringify(hop)).toThrow(TypeError);
    expect(() =>
      compileHops([
        { from: "A", to: "B", scopes: ["b"] },
        { from: "A", to: "B", scopes: ["c"] },
      ]),
    ).toThrow(/declared twice/);
    // Within, by path: a default below an allowed path is fine.
    expect(() => compileHops([{ from: "A", to: "B", scopes: ["read:/data"], default_scopes: ["read:/data/cern"] }])).not.toThrow();
  });
});

describe("hop policy ids", () => {
  it("keep ordinary names readable and are deterministic", () => {
    expect(hopPolicyId("svc-a", "svc-b", "exchange")).toBe("hop/svc-a/svc-b/exchange");
    expect(hopPolicyId("admin:test/vo_1", "https://api.example/x", "scopes")).toBe("hop/admin:test@2Fvo_1/https:@2F@2Fapi.example@2Fx/scopes");
    expect(compileHops([{ from: "admin:test/vo_1", to: "B", scopes: ["b"] }])[0]!.id).toBe(hopPolicyId("admin:test/vo_1", "B", "exchange"));
  });

  it("never collide when names contain the separator or the escape character", () => {
    const pairs: Array<[string, string]> = [
      ["a/b", "c"],
      ["a", "b/c"],
      ["a@2Fb", "c"],
      ["a@", "2Fb/c"],
      ["a b", "c"],
      ["a\u00e9", "c"],
    ];
    const ids = pairs.map(([f, t]) => hopPolicyId(f, t, "exchange"));
    expect(new Set(ids).size).toBe(pairs.length);
    for (const id of ids) expect(id).toMatch(API_ID);
  });

  it("stay within the policy API's id rule for very long names", () => {
    const long = hopPolicyId("c".repeat(300), "aud", "scopes");
    expect(long).toMatch(/^hop\/sha256-[0-9a-f]{40}\/scopes$/);
    expect(long).toMatch(API_ID);
    expect(hopPolicyId("c".repeat(300), "aud2", "scopes")).not.toBe(long);
  });
});

describe("no injection through names", () => {
  it("cedarString round-trips any string through Cedar's parser", () => {
    const nasty = ['"', "\\", '\\"', 'a" || true || "', "\\u{41}", "é", "😀", "\u202eevil", "tab\there", "*", "\u0000", "back\\"];
    for (const value of nasty) {
      const text = `permit (principal == Client::${cedarString(value)}, action, resource);`;
      expect(head(text).principal, JSON.stringify(value)).toEqual({ op: "==", entity: { type: "Client", id: value } });
    }
    expect(cedarString("\u202e")).toBe('"\\u{202e}"');
    expect(() => cedarString("\ud800")).toThrow(TypeError);
  });

  it("a client id or audience crafted to close the literal constrains exactly itself and widens nothing", () => {
    const evilFrom = 'X", action, resource) when { true }; permit (principal == Client::"Y';
    const evilTo = 'B" || true || resource == Audience::"\\';
    const compiled = compileHops([{ from: evilFrom, to: evilTo, scopes: ["b"] }]);
    expect(compiled).toHaveLength(2);
    for (const p of compiled) {
      expect(PolicyEngine.validatePolicy(p.text, { id: p.id })).toEqual({ ok: true });
      expect(p.id).toMatch(API_ID);
      const h = head(p.text);
      expect(h.effect).toBe("permit");
      expect(h.principal).toEqual({ op: "==", entity: { type: "Client", id: evilFrom } });
      expect(h.resource).toEqual({ op: "==", entity: { type: "Audience", id: evilTo } });
    }
    const e = new PolicyEngine(compiled);
    for (const clientId of ["X", "Y", "A"]) {
      for (const audience of ["B", evilTo, "anything"]) expect(e.decide(input({ clientId, audience })).allow, `${clientId} → ${audience}`).toBe(false);
    }
    expect(e.decide(input({ clientId: evilFrom, audience: "B" })).allow).toBe(false);
    expect(e.decide(input({ clientId: evilFrom, audience: evilTo }))).toMatchObject({ allow: true, allowedScopes: ["b"] });
  });
});
