import { describe, expect, it } from "vitest";
import { MAX_POLICY_DEPTH, policyDepth } from "./policy-depth.js";

const when = (condition: string): string => `permit (principal, action == Action::"request_scope", resource) when { ${condition} };`;

describe("policyDepth", () => {
  it("keeps ordinary policies far below the bound", () => {
    const texts = [
      'permit (principal == Client::"A", action == Action::"exchange", resource == Audience::"B");',
      when('context.scope == "b" || context.scope like "read:/data/*"'),
      when('principal in [Client::"a", Client::"b", Client::"c"] && context.depth <= 2 && !(context.actors.contains("x"))'),
      `@id("p")\n@default_scope("a b")\n${when('if context.depth > 1 then context.subject.iss == "x" else true')}`,
    ];
    for (const text of texts) expect(policyDepth(text), text).toBeLessThan(MAX_POLICY_DEPTH / 4);
  });

  it.each([
    ["nested parentheses", (n: number) => `${"(".repeat(n)}true${")".repeat(n)}`],
    ["a chain of ||", (n: number) => `${'context.scope == "x" || '.repeat(n)}true`],
    ["a chain of +", (n: number) => `context.depth${" + 1".repeat(n)} == 1`],
    ["nested if", (n: number) => `${"if true then ".repeat(n)}true${" else false".repeat(n)}`],
    ["nested records", (n: number) => `${"{a: ".repeat(n)}1${"}".repeat(n)} == {a: 1}`],
    ["nested calls", (n: number) => `${"ip(".repeat(n)}"1.1.1.1"${")".repeat(n)}.isIpv4()`],
    ["conditions nested under &&", (n: number) => `${"true && (".repeat(n)}true${")".repeat(n)}`],
    ["method chains", (n: number) => `context.actors${'.contains("a")'.repeat(n)}`],
    ["many when clauses", (n: number) => `true }${" when { true }".repeat(n).slice(0, -2)}`],
  ])("grows with %s, past the bound well before cedar-wasm's stack ends (a few hundred levels)", (_what, make) => {
    const at = (n: number): number => policyDepth(when(make(n)));
    expect(at(2 * MAX_POLICY_DEPTH)).toBeGreaterThan(MAX_POLICY_DEPTH);
    expect(at(64)).toBeGreaterThan(at(32));
  });

  it("counts elements separated by commas apart: a long set, record or argument list is flat", () => {
    const set = `[${Array.from({ length: 2000 }, (_, i) => `Client::"c${i}"`).join(", ")}]`;
    expect(policyDepth(when(`principal in ${set}`))).toBeLessThan(16);
    const record = `{${Array.from({ length: 500 }, (_, i) => `a${i}: 1 + 1`).join(", ")}}`;
    expect(policyDepth(when(`${record} == {}`))).toBeLessThan(16);
  });

  it("counts statements separated by semicolons apart, so that a text of many is refused for their number, not its depth", () => {
    const one = when(`context.scope == "x" && context.depth < 3`);
    expect(policyDepth(`${one}\n`.repeat(200))).toBe(policyDepth(one));
  });

  it("ignores what string literals and comments hold", () => {
    const quiet = policyDepth(when('context.scope == "x"'));
    expect(policyDepth(when(`context.scope == "${"((((|| && . ".repeat(500)}\\" ))"`))).toBe(quiet);
    expect(policyDepth(`// ${"(".repeat(1000)}\n${when('context.scope == "x"')}`)).toBe(quiet);
  });

  it("bounds unbalanced and unterminated texts too, without throwing", () => {
    expect(policyDepth("(".repeat(1000))).toBeGreaterThan(MAX_POLICY_DEPTH);
    expect(policyDepth(")".repeat(1000))).toBe(0);
    expect(policyDepth(`"${"(".repeat(1000)}`)).toBe(0);
    expect(policyDepth("")).toBe(0);
  });
});
