import { describe, expect, it } from "vitest";
import { compileHops } from "./hops.js";
import { checkHopPolicies, policyProblem } from "./policy-text.js";

describe("checkHopPolicies", () => {
  it("passes the policies ordinary hops compile to", () => {
    const policies = compileHops([{ from: "svc-a", to: "svc-b", scopes: ["b", "c", "read:/data"], max_depth: 2 }]);
    expect(policies.length).toBeGreaterThan(0);
    expect(() => checkHopPolicies(policies)).not.toThrow();
  });

  it("refuses, naming the policy, a hop whose policy Put would refuse: here one past the size a stored policy may have", () => {
    const scopes = Array.from({ length: 3000 }, (_, i) => `scope-number-${i.toString().padStart(6, "0")}`);
    const policies = compileHops([{ from: "svc-a", to: "svc-b", scopes }]);
    const [tooLarge] = policies.filter((p) => policyProblem(p.text, p.id) !== undefined);
    expect(tooLarge).toBeDefined();
    expect(() => checkHopPolicies(policies)).toThrow(`policy.hops: ${tooLarge!.id}, the policy of a hop: policy text is too large`);
  });

  it("names where a text that does not validate goes wrong", () => {
    expect(policyProblem("permit(principal, action, resource) when { context.nope };", "p1")).toMatch(/^invalid policy: /);
    expect(policyProblem("permit(principal, action, resource);", "p1")).toBeUndefined();
  });
});
