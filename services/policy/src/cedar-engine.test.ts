import { describe, expect, it } from "vitest";
import { PolicyEngine, compileHops } from "./index.js";
import type { DecideInput } from "./index.js";

const hops = compileHops([
  { from: "A", to: "B", scopes: ["b", "c", "read:/data/cern"], max_depth: 2 },
  { from: "B", to: "C", scopes: ["c"], default_scopes: ["c"] },
]);
const engine = new PolicyEngine(hops);

const input = (over: Partial<DecideInput> = {}): DecideInput => ({
  clientId: "A",
  audience: "B",
  requestedScopes: ["b", "c", "d"],
  subject: { sub: "alice", clientId: "app", iss: "https://sts", scopes: ["a", "b", "c", "d"], audience: ["A"] },
  depth: 1,
  actors: [],
  callerInAudience: true,
  ...over,
});

describe("PolicyEngine with compiled hops", () => {
  it("allows A→B with only the hop's scopes, naming the deciding policy", () => {
    const d = engine.decide(input());
    expect(d.allow).toBe(true);
    expect(d.allowedScopes).toEqual(["b", "c"]);
    expect(d.policyIds).toEqual(["hop/A/B/exchange"]);
    expect(d.maxDepth).toBe(2);
    expect(d.defaultScopes).toEqual(["b", "c", "read:/data/cern"]);
  });

  it("denies audiences no hop names, with a reason", () => {
    const d = engine.decide(input({ audience: "C" }));
    expect(d.allow).toBe(false);
    expect(d.reason).toMatch(/no policy permits client A/);
    expect(engine.decide(input({ clientId: "C", audience: "A" })).allow).toBe(false);
  });

  it("denies a caller that is not in the subject token's audience", () => {
    expect(engine.decide(input({ callerInAudience: false })).allow).toBe(false);
  });

  it("treats structured scopes by path segment", () => {
    const d = engine.decide(input({ requestedScopes: ["read:/data/cern/run7", "read:/data/cernX", "read:/data/cern"] }));
    expect(d.allowedScopes).toEqual(["read:/data/cern/run7", "read:/data/cern"]);
  });

  it("lets a forbid override a permit, and names it", () => {
    const frozen = engine.withCandidate({ id: "freeze", text: 'forbid (principal == Client::"A", action, resource);' });
    const d = frozen.decide(input());
    expect(d.allow).toBe(false);
    expect(d.policyIds).toEqual(["freeze"]);
    expect(engine.decide(input()).allow).toBe(true);
  });

  it("refuses invalid policies with a position", () => {
    const syntax = PolicyEngine.validatePolicy("permit (principal, action, resource) when { 1 + };");
    expect(syntax.ok).toBe(false);
    if (!syntax.ok) expect(syntax.errors[0]).toMatchObject({ line: 1 });
    const attr = PolicyEngine.validatePolicy('permit (principal, action == Action::"exchange", resource)\nwhen { context.nope };');
    expect(attr.ok).toBe(false);
    if (!attr.ok) expect(attr.errors[0]).toMatchObject({ line: 2 });
    expect(PolicyEngine.validatePolicy('permit (principal, action == Action::"fly", resource);').ok).toBe(false);
    expect(PolicyEngine.validatePolicy("permit (principal, action, resource); permit (principal, action, resource);").ok).toBe(false);
    for (const p of hops) expect(PolicyEngine.validatePolicy(p.text)).toEqual({ ok: true });
  });

  it("cannot be widened by a client id that tries to inject policy text", () => {
    const evil = 'X", action, resource) when { true }; permit (principal == Client::"Y';
    const compiled = compileHops([{ from: evil, to: "B", scopes: ["b"] }]);
    for (const p of compiled) expect(PolicyEngine.validatePolicy(p.text)).toEqual({ ok: true });
    const e = new PolicyEngine(compiled);
    expect(e.decide(input({ clientId: "Y" })).allow).toBe(false);
    expect(e.decide(input({ clientId: evil })).allow).toBe(true);
  });
});
