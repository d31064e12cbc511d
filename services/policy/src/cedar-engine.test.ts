import { describe, expect, it } from "vitest";
import { PolicyEngine, MAX_POLICY_TEXT_BYTES } from "./cedar-engine.js";
import type { DecideInput } from "./cedar-engine.js";
import { compileHops } from "./hops.js";
import { MAX_LIST_LENGTH, MAX_NAME_LENGTH } from "./schema.js";

// The A → B → C chain of the demo: A may get b and c for B; B may get c for C, at depth ≤ 2.
const chain = compileHops([
  { from: "A", to: "B", scopes: ["b", "c", "read:/data/cern"], default_scopes: ["b"] },
  { from: "B", to: "C", scopes: ["c"], max_depth: 2 },
]);
const engine = new PolicyEngine(chain);

const input = (over: Partial<DecideInput> = {}): DecideInput => ({
  clientId: "A",
  audience: "B",
  requestedScopes: ["b", "c", "d"],
  subject: { sub: "alice", clientId: "app", iss: "https://sts.example", scopes: ["a", "b", "c", "d"], audience: ["A"] },
  depth: 1,
  actors: [],
  callerInAudience: true,
  ...over,
});

const permitAll = (id: string, extra = ""): { id: string; text: string } => ({
  id,
  text: `${extra}permit (principal == Client::"A", action == Action::"exchange", resource == Audience::"B");`,
});

describe("decide: the A → B → C chain", () => {
  it("allows A → B with only the hop's scopes, naming the deciding permit", () => {
    expect(engine.decide(input())).toEqual({
      allow: true,
      policyIds: ["hop/A/B/exchange"],
      allowedScopes: ["b", "c"],
      defaultScopes: ["b"],
      maxDepth: 0,
      reason: "permitted by policy hop/A/B/exchange",
      errors: [],
    });
  });

  it("denies A → C with a reason, and no policy named", () => {
    const d = engine.decide(input({ audience: "C" }));
    expect(d).toMatchObject({ allow: false, policyIds: [], allowedScopes: [], defaultScopes: [], maxDepth: 0 });
    expect(d.reason).toBe("no policy permits client A to exchange for audience C");
  });

  it("denies the chain backwards (C → A, C → B) and B → A", () => {
    for (const [clientId, audience] of [
      ["C", "A"],
      ["C", "B"],
      ["B", "A"],
    ] as const) {
      const d = engine.decide(input({ clientId, audience, requestedScopes: ["c"] }));
      expect(d.allow).toBe(false);
      expect(d.reason).toBe(`no policy permits client ${clientId} to exchange for audience ${audience}`);
    }
  });

  it("allows B → C at depth 2 with max_depth 2, and denies depth 3", () => {
    const ok = engine.decide(input({ clientId: "B", audience: "C", depth: 2, actors: ["A"], requestedScopes: ["c"] }));
    expect(ok).toMatchObject({ allow: true, allowedScopes: ["c"], maxDepth: 2, policyIds: ["hop/B/C/exchange"] });
    const deep = engine.decide(input({ clientId: "B", audience: "C", depth: 3, actors: ["A", "X"], requestedScopes: ["c"] }));
    // The hop's bound is what refused, and the decision says so (maxDepth on a deny), for the exchanger's error code.
    expect(deep).toMatchObject({ allow: false, maxDepth: 2, policyIds: ["hop/B/C/exchange"] });
    expect(deep.reason).toBe("delegation depth 3 exceeds max_depth 2 of policy hop/B/C/exchange");
  });

  it("denies a caller that is not in the subject token's audience (RFC 8693 §2.1 presenter)", () => {
    expect(engine.decide(input({ callerInAudience: false })).allow).toBe(false);
  });

  it("returns the annotated default scopes, and no allowed scopes, when none are requested", () => {
    expect(engine.decide(input({ requestedScopes: [] }))).toMatchObject({ allow: true, allowedScopes: [], defaultScopes: ["b"] });
    expect(engine.decide(input({ clientId: "B", audience: "C", requestedScopes: [] }))).toMatchObject({ allow: true, allowedScopes: [], defaultScopes: ["c"] });
  });

  it("still allows the exchange when none of the requested scopes is allowed (the exchanger answers invalid_scope)", () => {
    expect(engine.decide(input({ requestedScopes: ["d", "e"] }))).toMatchObject({ allow: true, allowedScopes: [], policyIds: ["hop/A/B/exchange"] });
  });

  it("matches structured scopes by path segment: read:/data/cern allows read:/data/cern/run7, not read:/data/cernX", () => {
    const d = engine.decide(input({ requestedScopes: ["read:/data/cern/run7", "read:/data/cernX", "read:/data/cern", "read:/data", "write:/data/cern"] }));
    expect(d.allowedScopes).toEqual(["read:/data/cern/run7", "read:/data/cern"]);
  });

  it("reports each requested scope once, in request order", () => {
    expect(engine.decide(input({ requestedScopes: ["c", "b", "c"] })).allowedScopes).toEqual(["c", "b"]);
  });
});

describe("decide: forbids, annotations and errors", () => {
  it("lets a forbid override a permit, naming only the forbid", () => {
    const frozen = engine.withCandidate({ id: "freeze-A", text: 'forbid (principal == Client::"A", action == Action::"exchange", resource);' });
    const d = frozen.decide(input());
    expect(d).toMatchObject({ allow: false, policyIds: ["freeze-A"], allowedScopes: [], maxDepth: 0, reason: "forbidden by policy freeze-A" });
  });

  it("applies a scope forbid to requested and default scopes alike", () => {
    const noB = engine.withCandidate({ id: "no-b", text: 'forbid (principal, action == Action::"request_scope", resource) when { context.scope == "b" };' });
    expect(noB.decide(input()).allowedScopes).toEqual(["c"]);
    expect(noB.decide(input({ requestedScopes: [] }))).toMatchObject({ allow: true, defaultScopes: [] });
  });

  it("narrows a request for a broader path to the hop's structured scope (@narrow_to), as far as request_scope allows", () => {
    const subject = { ...input().subject, scopes: ["read:/", "b"] };
    const asked = (requestedScopes: string[]) => engine.decide(input({ requestedScopes, subject })).allowedScopes;
    expect(asked(["read:/data", "b"])).toEqual(["read:/data/cern", "b"]);
    expect(asked(["read:/"])).toEqual(["read:/data/cern"]);
    // Allowed as asked: no substitute.
    expect(asked(["read:/data/cern/run7"])).toEqual(["read:/data/cern/run7"]);
    // Nothing of the hop's under these.
    expect(asked(["read:/other", "write:/data", "read:/data/cernX"])).toEqual([]);
    // A forbid on the narrower scope holds for the substitute too.
    const forbidden = engine.withCandidate({
      id: "no-cern",
      text: 'forbid (principal, action == Action::"request_scope", resource) when { context.scope like "read:/data/cern*" };',
    });
    expect(forbidden.decide(input({ requestedScopes: ["read:/data"], subject })).allowedScopes).toEqual([]);
    // Without @narrow_to, a scope is only ever granted as asked.
    const plain = new PolicyEngine([
      permitAll("x"),
      { id: "s", text: 'permit (principal, action == Action::"request_scope", resource) when { context.scope like "read:/data/cern*" };' },
    ]);
    expect(plain.decide(input({ requestedScopes: ["read:/data"], subject })).allowedScopes).toEqual([]);
  });

  it("enforces @max_depth even without a depth condition, taking the smallest of the deciding permits", () => {
    const e = new PolicyEngine([permitAll("p5", '@max_depth("5")\n'), permitAll("p3", '@max_depth("3")\n'), permitAll("unbounded")]);
    expect(e.decide(input({ depth: 3 }))).toMatchObject({ allow: true, maxDepth: 3, policyIds: ["p3", "p5", "unbounded"] });
    expect(e.decide(input({ depth: 4 }))).toMatchObject({
      allow: false,
      maxDepth: 3,
      policyIds: ["p3"],
      reason: "delegation depth 4 exceeds max_depth 3 of policy p3",
    });
    expect(new PolicyEngine([permitAll("unbounded")]).decide(input({ depth: 40 }))).toMatchObject({ allow: true, maxDepth: 0 });
  });

  it("requires the caller in the subject's audience even of a permit without that condition, unless a deciding permit says @any_presenter", () => {
    const plain = new PolicyEngine([permitAll("plain")]);
    expect(plain.decide(input({ callerInAudience: false }))).toMatchObject({
      allow: false,
      policyIds: [],
      reason: expect.stringMatching(/not in the subject token's audience/),
    });
    expect(plain.decide(input({ callerInAudience: true }))).toMatchObject({ allow: true });
    const open = plain.withCandidate(permitAll("open", '@any_presenter("true")\n'));
    expect(open.decide(input({ callerInAudience: false }))).toMatchObject({ allow: true, policyIds: ["open", "plain"] });
  });

  it("unions @default_scope of the deciding permits", () => {
    const e = new PolicyEngine([
      permitAll("d1", '@default_scope("b c")\n'),
      permitAll("d2", '@default_scope("c read:/data/")\n'),
      { id: "s", text: 'permit (principal, action == Action::"request_scope", resource);' },
    ]);
    expect(e.decide(input({ requestedScopes: [] })).defaultScopes).toEqual(["b", "c", "read:/data"]);
  });

  it("denies when a forbid errors instead of letting the permit through (Cedar skips erroring policies)", () => {
    const overflow = "forbid (principal, action, resource) when { context.depth + 9223372036854775807 > 0 };";
    expect(PolicyEngine.validatePolicy(overflow)).toEqual({ ok: true });
    const d = engine.withCandidate({ id: "broken-forbid", text: overflow }).decide(input());
    expect(d).toMatchObject({ allow: false, policyIds: [], allowedScopes: [], reason: "evaluation error in policy broken-forbid; denied" });
    expect(d.errors.join(" ")).toMatch(/broken-forbid: integer overflow/);
  });

  it("does not grant a scope whose request_scope evaluation errors", () => {
    const e = engine.withCandidate({
      id: "broken-scope-forbid",
      text: 'forbid (principal, action == Action::"request_scope", resource) when { context.scope == "c" && context.depth * 9223372036854775807 > 1 };',
    });
    const d = e.decide(input({ depth: 2 }));
    expect(d).toMatchObject({ allow: true, allowedScopes: ["b"] });
    expect(d.errors).toHaveLength(1);
    expect(d.errors[0]).toMatch(/^scope c: broken-scope-forbid: /);
  });

  it("denies malformed requests before evaluation, without echoing the value", () => {
    const bad: Array<[string, Partial<DecideInput>]> = [
      ["client_id", { clientId: "A\r\nforged: yes" }],
      ["client_id", { clientId: "" }],
      ["audience", { audience: "B\u0000" }],
      ["audience", { audience: "x".repeat(MAX_NAME_LENGTH + 1) }],
      ["requested_scopes", { requestedScopes: ["b\u0085"] }],
      ["requested_scopes", { requestedScopes: Array.from({ length: MAX_LIST_LENGTH + 1 }, (_, i) => `s${i}`) }],
      ["actors", { actors: ["\ud800"] }],
      ["subject.scopes", { subject: { sub: "u", clientId: "c", iss: "i", scopes: ["\u001b[31m"], audience: [] } }],
      ["depth", { depth: 1.5 }],
      ["depth", { depth: -1 }],
      ["depth", { depth: Number.NaN }],
      ["depth", { depth: 2 ** 40 }],
    ];
    for (const [what, over] of bad) {
      const d = engine.decide(input(over));
      expect(d.allow).toBe(false);
      expect(d.reason).toMatch(/^malformed decision request: /);
      expect(d.reason).toContain(what);
      expect(d.reason).not.toMatch(/forged|\u001b/);
    }
  });
});

describe("decide: only canonical scope tokens", () => {
  it("denies requested or subject scopes spelled otherwise than one canonical scope token, which a `like` pattern or a forbid would misread (RFC 6749 §3.3)", () => {
    // The hop allows read:/data/cern and below: `like "read:/data/cern/*"` matches each of these strings.
    const spellings = [
      "read:/data/cern/../../etc",
      "read:/data/cern/x write:/etc",
      "read:/data/cern/",
      "read:/data/cern//x",
      "read:/data/cern/%2e%2e",
      "read:/data/cern/x;y",
      "read:",
    ];
    for (const scope of spellings) {
      const d = engine.decide(input({ requestedScopes: [scope] }));
      expect(d, scope).toMatchObject({
        allow: false,
        allowedScopes: [],
        reason: "malformed decision request: an entry of requested_scopes is not a canonical scope token",
      });
    }
    const subject = { sub: "u", clientId: "c", iss: "i", scopes: ["read:/data/cern/"], audience: ["A"] };
    expect(engine.decide(input({ subject })).reason).toBe("malformed decision request: an entry of subject.scopes is not a canonical scope token");
    // The canonical spellings are decided as before; a template in the subject token's scope is a scope it holds.
    expect(engine.decide(input({ requestedScopes: ["read:/data/cern/x", "b"] }))).toMatchObject({ allow: true, allowedScopes: ["read:/data/cern/x", "b"] });
    expect(engine.decide(input({ subject: { ...subject, scopes: ["read:", "b"] } })).allow).toBe(true);
  });

  it("so a forbid naming a scope cannot be passed by another spelling of it", () => {
    const e = engine.withCandidate({
      id: "no-secret",
      text: 'forbid (principal, action == Action::"request_scope", resource) when { context.scope == "read:/data/cern/secret" };',
    });
    expect(e.decide(input({ requestedScopes: ["read:/data/cern/secret", "b"] })).allowedScopes).toEqual(["b"]);
    expect(e.decide(input({ requestedScopes: ["read:/data/cern/secret/", "b"] }))).toMatchObject({ allow: false, allowedScopes: [] });
  });
});

describe("validatePolicy", () => {
  const refused = (text: string, id?: string) => {
    const r = PolicyEngine.validatePolicy(text, id === undefined ? {} : { id });
    if (r.ok) throw new Error(`expected ${JSON.stringify(text)} to be refused`);
    return r.errors;
  };

  it("accepts every compiled hop policy and ordinary hand-written ones", () => {
    for (const p of chain) expect(PolicyEngine.validatePolicy(p.text, { id: p.id })).toEqual({ ok: true });
    expect(
      PolicyEngine.validatePolicy(
        '@id("x")\n// comment\nforbid (principal, action == Action::"request_scope", resource)\nwhen { context.scope like "admin:*" && !context.subject.scopes.contains("admin") };',
        { id: "x" },
      ),
    ).toEqual({ ok: true });
  });

  it("refuses a syntax error with its line and column", () => {
    const [e] = refused("permit (principal, action, resource)\nwhen { 1 + };");
    expect(e).toMatchObject({ line: 2, column: 12 });
    expect(e!.message).toMatch(/unexpected token/);
  });

  it("refuses an attribute the schema does not have, at its position (columns in characters, offset in bytes)", () => {
    const [e] = refused('// déjà vu\npermit (principal, action == Action::"exchange", resource)\nwhen { context.nope };');
    expect(e).toMatchObject({ line: 3, column: 8, offset: 12 + 60 + 7 });
    expect(e!.message).toMatch(/`nope`/);
  });

  it("refuses an attribute of the other action's context (scope is only for request_scope)", () => {
    const [e] = refused('permit (principal, action == Action::"exchange", resource) when { context.scope == "b" };');
    expect(e!.message).toMatch(/`scope`/);
  });

  it("refuses an unknown action and wrong entity types", () => {
    expect(refused('permit (principal, action == Action::"fly", resource);')[0]).toMatchObject({ line: 1, column: 30 });
    expect(refused('permit (principal == User::"a", action == Action::"exchange", resource);').length).toBeGreaterThan(0);
  });

  it("refuses zero or several statements, and templates", () => {
    expect(refused("permit (principal, action, resource); forbid (principal, action, resource);")[0]!.message).toMatch(/exactly one/);
    expect(refused("// nothing here")[0]!.message).toMatch(/exactly one/);
    expect(refused("   ")[0]!.message).toMatch(/empty/);
    expect(refused("permit (principal == ?principal, action, resource);")[0]!.message).toMatch(/templates/);
  });

  it("refuses malformed @max_depth, @any_presenter, @default_scope and @narrow_to instead of ignoring them", () => {
    for (const bad of ["0", "-1", "two", "2.5", " 2", ""]) {
      const [e] = refused(`@max_depth("${bad}")\npermit (principal, action == Action::"exchange", resource);`);
      expect(e).toMatchObject({ line: 1, column: 1 });
      expect(e!.message).toMatch(/@max_depth/);
    }
    for (const bad of ["false", "yes", "TRUE", ""]) {
      expect(refused(`@any_presenter("${bad}")\npermit (principal, action == Action::"exchange", resource);`)[0]!.message).toMatch(/@any_presenter/);
    }
    for (const bad of ["read:", 'a\\"b', "b read:/a/../c", "read:/%2e"]) {
      for (const name of ["default_scope", "narrow_to"]) {
        expect(refused(`@${name}("${bad}")\npermit (principal, action == Action::"exchange", resource);`)[0]!.message).toMatch(`@${name}`);
      }
    }
  });

  it("refuses an @id that differs from the id the policy is stored under", () => {
    const text = '@id("other")\npermit (principal, action == Action::"exchange", resource);';
    expect(refused(text, "mine")[0]!.message).toMatch(/differs/);
    expect(PolicyEngine.validatePolicy(text, { id: "other" })).toEqual({ ok: true });
  });

  it("refuses a policy nesting too deeply before cedar-wasm parses it: its stack overflow would fail every later decision of the process", () => {
    const deep = [
      `permit (principal, action, resource) when { ${"(".repeat(300)}true${")".repeat(300)} };`,
      `permit (principal, action == Action::"request_scope", resource) when { ${'context.scope == "x" || '.repeat(1000)}true };`,
      `permit (principal, action, resource) when { ${"{a: ".repeat(300)}1${"}".repeat(300)} == {a: 1} };`,
    ];
    for (const text of deep) {
      expect(refused(text)[0]!.message).toMatch(/^the policy nests too deeply/);
      expect(() => engine.withCandidate({ id: "deep", text })).toThrow(/nests too deeply/);
    }
    // cedar-wasm was never handed those texts, so it still answers.
    expect(engine.decide(input())).toMatchObject({ allow: true, allowedScopes: ["b", "c"], errors: [] });
    expect(PolicyEngine.validatePolicy("permit (principal, action, resource) when { ((context.depth > 0)) };")).toEqual({ ok: true });
  });

  it("refuses control characters and oversized texts", () => {
    expect(refused("permit (principal, action, resource) when { context.depth > 0 };\u0000")[0]).toMatchObject({ line: 1 });
    expect(refused(`// ${"x".repeat(MAX_POLICY_TEXT_BYTES)}\npermit (principal, action, resource);`)[0]!.message).toMatch(/larger/);
  });

  it("refuses a text that reads otherwise than it evaluates: bidi controls, C1 controls, line separators (Trojan Source, CVE-2021-42574)", () => {
    // Shown by a bidi-aware viewer as a forbid of the subject "admin" followed by a comment; Cedar sees one long string,
    // so the forbid never applies to admin.
    const stretched = 'forbid (principal, action, resource)\nwhen { context.subject.sub == "admin\u202e \u2066// only admin\u2069 \u2066" };';
    expect(refused(stretched)[0]).toMatchObject({ message: expect.stringMatching(/^the policy text holds a character shown otherwise/), line: 2, column: 37 });
    for (const ch of ["\u061c", "\u200f", "\u2028", "\u2029", "\u2067", "\u0085", "\u009b"]) {
      const text = `// note ${ch}\npermit (principal, action == Action::"exchange", resource);`;
      expect(refused(text)[0], JSON.stringify(ch)).toMatchObject({ line: 1, column: 9 });
    }
    // The same characters written as escapes are what they read as, and stay available to a policy.
    expect(PolicyEngine.validatePolicy('forbid (principal, action, resource)\nwhen { context.subject.sub == "admin\\u{202e}" };')).toEqual({ ok: true });
    expect(PolicyEngine.validatePolicy("permit (principal, action, resource)\r\n\twhen { context.depth > 0 };")).toEqual({ ok: true });
  });
});

describe("PolicyEngine", () => {
  it("withCandidate replaces or adds one policy without touching the original", () => {
    const onlyC = engine.withCandidate({
      id: "hop/A/B/scopes",
      text: 'permit (principal == Client::"A", action == Action::"request_scope", resource == Audience::"B") when { context.scope == "c" };',
    });
    expect(onlyC.decide(input()).allowedScopes).toEqual(["c"]);
    const toC = engine.withCandidate({ id: "a-to-c", text: 'permit (principal == Client::"A", action == Action::"exchange", resource == Audience::"C");' });
    expect(toC.decide(input({ audience: "C" })).allow).toBe(true);
    expect(toC.ids()).toContain("a-to-c");
    // The original still answers as before, and still lists only its own policies.
    expect(engine.decide(input()).allowedScopes).toEqual(["b", "c"]);
    expect(engine.decide(input({ audience: "C" })).allow).toBe(false);
    expect(engine.ids()).toEqual(["hop/A/B/exchange", "hop/A/B/scopes", "hop/B/C/exchange", "hop/B/C/scopes"]);
  });

  it("without leaves one policy out without touching the original", () => {
    const noExchange = engine.without("hop/A/B/exchange");
    expect(noExchange.decide(input())).toMatchObject({ allow: false });
    expect([noExchange.holdsId("hop/A/B/exchange"), engine.holdsId("hop/A/B/exchange")]).toEqual([false, true]);
    expect(engine.decide(input())).toMatchObject({ allow: true, allowedScopes: ["b", "c"] });
  });

  it("keeps each engine's answers while many engines share the preparsed slots", () => {
    const engines = Array.from({ length: 20 }, (_, i) => new PolicyEngine([permitAll(`p${i}`, `@max_depth("${i + 1}")\n`)]));
    for (let round = 0; round < 2; round++) {
      engines.forEach((e, i) => expect(e.decide(input({ requestedScopes: [] }))).toMatchObject({ allow: true, policyIds: [`p${i}`], maxDepth: i + 1 }));
    }
    expect(engine.decide(input()).policyIds).toEqual(["hop/A/B/exchange"]);
  });

  it("denies everything with no policies", () => {
    expect(new PolicyEngine([]).decide(input())).toMatchObject({ allow: false, reason: "no policy permits client A to exchange for audience B" });
  });

  it("throws TypeError for duplicate ids or a text that does not parse (callers validate first)", () => {
    expect(() => new PolicyEngine([permitAll("x"), permitAll("x")])).toThrow(TypeError);
    expect(() => new PolicyEngine([{ id: "x", text: "permit (" }])).toThrow(TypeError);
    expect(() => new PolicyEngine([permitAll("x", '@max_depth("many")\n')])).toThrow(TypeError);
  });

  it("whatIf answers as the whole changed set does, whatever the principal and resource scopes of its policies", () => {
    const scoped = new PolicyEngine([
      ...chain,
      {
        id: "any-to-b",
        text: '@any_presenter("true")\n@max_depth("3")\npermit (principal, action == Action::"exchange", resource == Audience::"B") when { context.depth > 1 };',
      },
      { id: "a-in", text: '@default_scope("d")\npermit (principal in Client::"A", action, resource in Audience::"C");' },
      { id: "is-client", text: 'forbid (principal is Client in Client::"B", action, resource is Audience) when { context.depth > 2 };' },
      { id: "is-other", text: 'forbid (principal is Client in Audience::"B", action, resource);' },
      { id: "erroring", text: 'forbid (principal, action, resource == Audience::"C") when { context.depth * 9223372036854775807 > 0 };' },
      { id: "scope-d", text: 'permit (principal, action == Action::"request_scope", resource) when { context.scope == "d" };' },
    ]);
    const candidates = [
      undefined,
      { id: "a-in", text: 'forbid (principal == Client::"A", action, resource == Audience::"B") when { context.depth > 1 };' },
      { id: "new", text: 'permit (principal is Client, action, resource == Audience::"C") when { context.caller_in_audience };' },
    ];
    const questions = ["A", "B", "Z"].flatMap((clientId) =>
      ["B", "C", "Y"].flatMap((audience) => [1, 2, 3].map((depth) => input({ clientId, audience, depth, callerInAudience: depth !== 3 }))),
    );
    for (const candidate of candidates) {
      for (const without of [undefined, "hop/A/B/exchange", "erroring"]) {
        let whole = candidate ? scoped.withCandidate(candidate) : scoped;
        if (without) whole = whole.without(without);
        for (const q of questions) {
          expect(scoped.whatIf(q, { candidate, without }), JSON.stringify({ candidate: candidate?.id, without, q })).toEqual(whole.decide(q));
        }
      }
    }
  });

  it("decides by the stored id even when @id says otherwise", () => {
    const e = new PolicyEngine([permitAll("stored", '@id("annotated")\n')]);
    expect(e.decide(input()).policyIds).toEqual(["stored"]);
  });
});
