import { describe, expect, it } from "vitest";
import { compileHops } from "./hops.js";
import { compileConfigHops, policyProblem } from "./policy-text.js";

describe("compileConfigHops", () => {
  it("passes the policies ordinary hops compile to", () => {
    const hops = [{ from: "svc-a", to: "svc-b", scopes: ["b", "c", "read:/data"], max_depth: 2 }];
    expect(compileHops(hops).length).toBeGreaterThan(0);
    expect(compileConfigHops(hops)).toEqual(compileHops(hops));
  });

  it("refuses, naming the policy, a hop whose policy Put would refuse: here one past the size a stored policy may have", () => {
    const scopes = Array.from({ length: 3000 }, (_, i) => `scope-number-${i.toString().padStart(6, "0")}`);
    const hops = [
      { from: "svc-a", to: "svc-b", scopes: ["b"] },
      { from: "svc-a", to: "svc-c", scopes },
    ];
    const [tooLarge] = compileHops(hops).filter((p) => policyProblem(p.text, p.id) !== undefined);
    expect(tooLarge).toBeDefined();
    expect(() => compileConfigHops(hops)).toThrow(
      `policy.hops[1] ("svc-a" → "svc-c"), its policy ${tooLarge!.id}: ${Buffer.byteLength(tooLarge!.text)} bytes, past the 65536 a policy may have; list fewer scopes or default_scopes`,
    );
  });

  it("refuses hops that compile to more policies than policy.max_policies, and passes them at the bound", () => {
    const hops = [
      { from: "svc-a", to: "svc-b", scopes: ["b"] },
      { from: "svc-b", to: "svc-c", scopes: ["c", "read:/data"] },
    ];
    const count = compileHops(hops).length;
    expect(compileConfigHops(hops, count)).toHaveLength(count);
    expect(() => compileConfigHops(hops, count - 1)).toThrow(
      `policy.hops: the 2 hops compile to ${count} policies, more than policy.max_policies (${count - 1})`,
    );
  });

  it("names where a text that does not validate goes wrong", () => {
    expect(policyProblem("permit(principal, action, resource) when { context.nope };", "p1")).toMatch(/^invalid policy: line 1, column \d+: /);
    expect(policyProblem("permit(principal, action, resource);", "p1")).toBeUndefined();
  });
});
