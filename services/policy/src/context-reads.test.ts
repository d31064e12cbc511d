/**
 * The per-scope questions of a decision carry only the context attributes that the `request_scope` policies able to
 * apply read (context-reads.ts), and no decision changes for it. The real cedar-wasm, its statefulIsAuthorized calls
 * recorded on their way through (nothing answered in its place).
 */
import { describe, expect, it, vi } from "vitest";
import fc from "fast-check";
import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import type * as CedarWasm from "@cedar-policy/cedar-wasm/nodejs";
// vi.mock below is hoisted above these imports: they load the recorded cedar-wasm.
import { PolicyEngine } from "./cedar-engine.js";
import type { DecideInput, PolicyText } from "./cedar-engine.js";
import { actionMayBe, contextReadsOf } from "./context-reads.js";
import { compileHops } from "./hops.js";

const asked = vi.hoisted(() => ({ contexts: [] as Array<{ action: string; context: unknown }> }));

vi.mock("@cedar-policy/cedar-wasm/nodejs", async (importOriginal) => {
  const real = await importOriginal<typeof CedarWasm>();
  return {
    ...real,
    statefulIsAuthorized: (call: Parameters<typeof real.statefulIsAuthorized>[0]) => {
      // The engine names actions as {type, id}.
      const action = (call.action as { id?: string }).id ?? "";
      asked.contexts.push({ action, context: structuredClone(call.context) });
      return real.statefulIsAuthorized(call);
    },
  };
});

/** The contexts of the questions `run` asks, by action. */
function questionsOf(run: () => void): { gate: unknown[]; scopes: unknown[] } {
  asked.contexts.length = 0;
  run();
  const of = (action: string): unknown[] => asked.contexts.filter((c) => c.action === action).map((c) => c.context);
  return { gate: of("exchange"), scopes: of("request_scope") };
}

const reads = (text: string): unknown => {
  const r = cedar.policyToJson(text);
  if (r.type !== "success") throw new Error(r.errors.map((e) => e.message).join("; "));
  const found = contextReadsOf(r.json);
  return found === "all" ? "all" : [...found].sort();
};

describe("contextReadsOf: what a policy's conditions read of the context", () => {
  it.each<[string, unknown]>([
    ['permit (principal, action, resource) when { ["b", "c"].contains(context.scope) };', []],
    ["permit (principal, action, resource) when { context.depth > 2 && context.caller_in_audience };", []],
    ['permit (principal, action, resource) when { context.subject.iss like "https://i*" };', ["subject.iss"]],
    ['permit (principal, action, resource) when { context["subject"]["sub"] == "alice" };', ["subject.sub"]],
    [
      "permit (principal, action, resource) when { context.requested_scopes.contains(context.scope) } unless { context.actors.containsAny(context.subject.audience) };",
      ["actors", "requested_scopes", "subject.audience"],
    ],
    // The subject record used whole (compared, tested with has, chosen by an if): every attribute of it.
    [
      'permit (principal, action, resource) when { context.subject == {sub: "a", client_id: "c", iss: "i", scopes: [], audience: []} };',
      ["subject.audience", "subject.client_id", "subject.iss", "subject.scopes", "subject.sub"],
    ],
    [
      'permit (principal, action, resource) when { (if context.caller_in_audience then context.subject else context.subject).sub == "a" };',
      ["subject.audience", "subject.client_id", "subject.iss", "subject.scopes", "subject.sub"],
    ],
    // `context` itself anywhere but before `.attr`, or an attribute the schema does not name: all of it.
    ["permit (principal, action, resource) when { context has actors };", "all"],
    ["permit (principal, action, resource) when { (if context.depth > 1 then context else context).actors.isEmpty() };", "all"],
    ["permit (principal, action, resource) when { context == {} };", "all"],
    ["permit (principal, action, resource) when { context.nonesuch == 1 };", "all"],
    ["permit (principal, action, resource) when { context.subject.nonesuch == 1 };", "all"],
  ])("%s", (text, expected) => {
    expect(reads(text)).toEqual(expected);
  });

  it("actionMayBe: only a scope that names the action, or names none, can apply", () => {
    const action = (text: string): unknown => {
      const r = cedar.policyToJson(text);
      if (r.type !== "success") throw new Error("does not parse");
      return r.json.action;
    };
    expect(actionMayBe(action("permit (principal, action, resource);"), "request_scope")).toBe(true);
    expect(actionMayBe(action('permit (principal, action == Action::"request_scope", resource);'), "request_scope")).toBe(true);
    expect(actionMayBe(action('permit (principal, action == Action::"exchange", resource);'), "request_scope")).toBe(false);
    expect(actionMayBe(action('permit (principal, action in [Action::"exchange", Action::"request_scope"], resource);'), "request_scope")).toBe(true);
    expect(actionMayBe(action('permit (principal, action in [Action::"exchange"], resource);'), "request_scope")).toBe(false);
    expect(actionMayBe({ op: "something new" }, "request_scope")).toBe(true);
  });
});

const hops = compileHops([{ from: "A", to: "B", scopes: ["b", "c", "read:/data/x"], default_scopes: ["b"] }]);
const big = (n: number, prefix: string): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}-`.padEnd(500, "x"));
const fat: DecideInput = {
  clientId: "A",
  audience: "B",
  requestedScopes: ["b", "c", "d"],
  subject: { sub: "alice", clientId: "app", iss: "https://sts.example", scopes: ["a", "b", "c", "d"], audience: ["A", ...big(40, "aud")] },
  depth: 2,
  actors: big(30, "actor"),
  callerInAudience: true,
};
const EMPTY_SUBJECT = { sub: "", client_id: "", iss: "", scopes: [], audience: [] };

describe("decide: what the per-scope questions carry", () => {
  it("a hop's scope questions carry no list of the subject token (its policy reads context.scope alone); the gate carries everything", () => {
    const engine = new PolicyEngine(hops);
    let decision: unknown;
    const q = questionsOf(() => (decision = engine.decide(fat)));
    expect(decision).toMatchObject({ allow: true, allowedScopes: ["b", "c"], defaultScopes: ["b"] });
    expect(q.gate).toHaveLength(1);
    expect(q.gate[0]).toMatchObject({ subject: { audience: fat.subject.audience }, actors: fat.actors });
    expect(q.scopes).toHaveLength(3);
    for (const c of q.scopes) expect(c).toMatchObject({ subject: EMPTY_SUBJECT, requested_scopes: [], actors: [], depth: 2, caller_in_audience: true });
  });

  it("carries what a scope policy that can apply reads, and only that; a policy for another client or audience changes nothing", () => {
    const forbid = (id: string, head: string, condition: string): PolicyText => ({ id, text: `forbid (${head}) when { ${condition} };` });
    const elsewhere = forbid("other-client", 'principal == Client::"Z", action, resource', 'context.subject.audience.contains("evil")');
    const reading = forbid("reads-actors", 'principal, action == Action::"request_scope", resource == Audience::"B"', 'context.actors.contains("evil")');
    const q = questionsOf(() => new PolicyEngine([...hops, elsewhere, reading]).decide(fat));
    for (const c of q.scopes) expect(c).toMatchObject({ subject: EMPTY_SUBJECT, requested_scopes: [], actors: fat.actors });
  });

  it("carries the whole context when a policy that can apply uses `context` in a way not recognised", () => {
    const whole: PolicyText = {
      id: "has",
      text: 'forbid (principal, action == Action::"request_scope", resource) when { context has actors && context.scope == "zzz" };',
    };
    const q = questionsOf(() => new PolicyEngine([...hops, whole]).decide(fat));
    expect(q.scopes.length).toBeGreaterThan(0);
    for (const c of q.scopes)
      expect(c).toMatchObject({ subject: { audience: fat.subject.audience }, actors: fat.actors, requested_scopes: fat.requestedScopes });
  });
});

// ---- property: the decision with and without the pruning is the same ----

const NAMES = ["A", "B", "C", "alice", "bob", "app", "https://i", "https://j", "x"];
const SCOPES = ["b", "c", "openid", "read:/data", "read:/data/x", "read:/data/y"];
const q = (s: string): string => JSON.stringify(s);
const aName = fc.constantFrom(...NAMES);
/** `often` three times in four, else one of `rarely`. */
const mostly = <T>(often: T, ...rarely: T[]): fc.Arbitrary<T> =>
  fc.oneof({ arbitrary: fc.constant(often), weight: 3 }, { arbitrary: fc.constantFrom(...rarely), weight: 1 });
const aScope = fc.constantFrom(...SCOPES);

// Attributes read one by one: each may be left out of a question no policy reads it in.
const attributeReads = fc.oneof(
  aScope.map((s) => `context.scope == ${q(s)}`),
  fc.constant('context.scope like "read:/data/*"'),
  aName.map((n) => `context.subject.sub == ${q(n)}`),
  aName.map((n) => `context["subject"]["client_id"] == ${q(n)}`),
  fc.constant('context.subject.iss like "https://i*"'),
  aScope.map((s) => `context.subject.scopes.contains(${q(s)})`),
  fc.constant("context.subject.scopes.contains(context.scope)"),
  fc.constant("context.requested_scopes.contains(context.scope)"),
  aScope.map((s) => `context.requested_scopes.contains(${q(s)})`),
  aName.map((n) => `context.subject.audience.contains(${q(n)})`),
  fc.constant("context.subject.audience.containsAny(context.actors)"),
  aName.map((n) => `context.actors.contains(${q(n)})`),
  fc.constant("context.actors.isEmpty()"),
  fc.integer({ min: 0, max: 4 }).map((k) => `context.depth > ${k}`),
  fc.constant("context.caller_in_audience"),
);
// The subject record used whole: all of its attributes are read.
const subjectReads = fc.oneof(
  fc.constant("context.subject has iss"),
  aName.map((n) => `context.subject == {sub: ${q(n)}, client_id: "app", iss: "https://i", scopes: ["b"], audience: ["A"]}`),
  aName.map((n) => `(if context.caller_in_audience then context.subject else context.subject).sub == ${q(n)}`),
  fc.constant("(if context.depth > 1 then context.subject else context.subject).scopes.contains(context.scope)"),
  aName.map((n) => `{ s: context.subject }.s.audience.contains(${q(n)})`),
);
// `context` used otherwise than before `.attr`: all of it is read.
const wholeReads = fc.oneof(
  fc.constant("context has actors"),
  fc.constant("(if context.depth > 1 then context else context).actors.isEmpty()"),
  aName.map((n) => `(if context.caller_in_audience then context else context).subject.audience.contains(${q(n)})`),
  fc.constant("(if context.depth > 1 then context else context).requested_scopes.contains(context.scope)"),
  aName.map((n) => `{ c: context }.c.subject.sub == ${q(n)}`),
);
// No context at all, or an evaluation error, which must stay one.
const others = fc.constantFrom("context.depth * 9223372036854775807 > 1", 'principal == Client::"A"', 'resource in Audience::"B"');

const atom = fc.oneof(
  { arbitrary: attributeReads, weight: 4 },
  { arbitrary: subjectReads, weight: 2 },
  { arbitrary: wholeReads, weight: 1 },
  { arbitrary: others, weight: 1 },
);

const { expr } = fc.letrec<{ expr: string }>((tie) => ({
  expr: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    atom,
    fc.tuple(tie("expr"), tie("expr")).map(([a, b]) => `(${a} && ${b})`),
    fc.tuple(tie("expr"), tie("expr")).map(([a, b]) => `(${a} || ${b})`),
    tie("expr").map((a) => `!(${a})`),
    fc.tuple(tie("expr"), tie("expr"), tie("expr")).map(([a, b, c]) => `(if ${a} then ${b} else ${c})`),
  ),
}));

const policyText = fc
  .record({
    effect: fc.constantFrom("permit", "forbid"),
    // Mostly policies that answer scope questions of the client and audience mostly asked about: those are pruned for.
    principal: mostly("principal", 'principal == Client::"A"', 'principal == Client::"C"', "principal is Client", 'principal in Client::"A"'),
    action: fc.constantFrom(
      'action == Action::"request_scope"',
      "action",
      'action == Action::"request_scope"',
      "action",
      'action == Action::"exchange"',
      'action in [Action::"exchange", Action::"request_scope"]',
    ),
    resource: mostly("resource", 'resource == Audience::"B"', 'resource == Audience::"D"', 'resource is Audience in Audience::"B"'),
    conditions: fc.array(fc.tuple(fc.constantFrom("when", "unless"), expr), { maxLength: 2 }),
    annotations: fc.subarray(['@narrow_to("read:/data/x read:/data/y")', '@default_scope("b read:/data/x")', '@any_presenter("true")']),
  })
  .map(({ effect, principal, action, resource, conditions, annotations }) => {
    const notes = effect === "permit" ? annotations.join("\n") : "";
    return `${notes}\n${effect} (${principal}, ${action}, ${resource})${conditions.map(([k, e]) => ` ${k} { ${e} }`).join("")};`;
  });

// The gate usually opens, so that scope questions are asked.
const OPEN_GATE = '@any_presenter("true")\n@default_scope("b")\n@narrow_to("read:/data/x")\npermit (principal, action == Action::"exchange", resource);';

const decideInput: fc.Arbitrary<DecideInput> = fc.record({
  clientId: mostly("A", "C"),
  audience: mostly("B", "D"),
  requestedScopes: fc.subarray(SCOPES, { minLength: 1 }),
  subject: fc.record({
    sub: aName,
    clientId: aName,
    iss: fc.constantFrom("https://i", "https://j"),
    scopes: fc.subarray(SCOPES),
    audience: fc.subarray(NAMES),
  }),
  depth: fc.integer({ min: 0, max: 4 }),
  actors: fc.subarray(NAMES),
  callerInAudience: fc.boolean(),
});

describe("decide: pruning the per-scope context changes no decision (property)", () => {
  it("random policy sets and questions decide the same with the whole context and with the pruned one", () => {
    const seen = { pruned: 0, allowedScopes: 0, errors: 0, denied: 0 };
    fc.assert(
      fc.property(
        fc.array(policyText, { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        fc.array(decideInput, { minLength: 4, maxLength: 8 }),
        (texts, open, inputs) => {
          const policies = [...(open ? [OPEN_GATE] : []), ...texts].map((text, i) => ({ id: `p${i}`, text }));
          const whole = new PolicyEngine(policies, { pruneScopeContext: false });
          const pruned = new PolicyEngine(policies);
          for (const input of inputs) {
            let a: unknown, b: unknown;
            const full = questionsOf(() => (a = whole.decide(input)));
            const cut = questionsOf(() => (b = pruned.decide(input)));
            expect(b).toEqual(a);
            if (JSON.stringify(cut.scopes) !== JSON.stringify(full.scopes)) seen.pruned++;
            const d = a as { allow: boolean; allowedScopes: string[]; errors: string[] };
            if (d.allowedScopes.length > 0) seen.allowedScopes++;
            if (d.errors.length > 0) seen.errors++;
            if (!d.allow) seen.denied++;
          }
        },
      ),
      { numRuns: 500 },
    );
    // Not vacuous: scope questions were pruned, scopes granted, errors met and denials made.
    expect(seen.pruned).toBeGreaterThan(50);
    expect(seen.allowedScopes).toBeGreaterThan(20);
    expect(seen.errors).toBeGreaterThan(5);
    expect(seen.denied).toBeGreaterThan(20);
  });
});
