import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "./index.js";

/** The one problem parseConfig reports for a `policy` section. */
function policyProblem(policy: Record<string, unknown>): string | undefined {
  try {
    parseConfig({ policy });
    return undefined;
  } catch (err) {
    return err instanceof ConfigError ? err.problems.join("; ") : String(err);
  }
}

describe("policy operators' tokens", () => {
  it("default to audience sts-policy with scopes policy:read and policy:write", () => {
    const { api_audience, read_scope, write_scope } = parseConfig({}).policy;
    expect({ api_audience, read_scope, write_scope }).toEqual({ api_audience: "sts-policy", read_scope: "policy:read", write_scope: "policy:write" });
  });

  it("take another audience and scopes, each scope one token (RFC 6749 §3.3)", () => {
    const c = parseConfig({ policy: { api_audience: "https://policy.example", read_scope: "policies.read", write_scope: "policies.admin" } }).policy;
    expect([c.api_audience, c.read_scope, c.write_scope]).toEqual(["https://policy.example", "policies.read", "policies.admin"]);
    expect(policyProblem({ write_scope: "policy:write policy:read" })).toBe("policy.write_scope: one scope token (RFC 6749 §3.3)");
    expect(policyProblem({ read_scope: 'a"b' })).toBe("policy.read_scope: one scope token (RFC 6749 §3.3)");
    expect(policyProblem({ read_scope: "" })).toBe("policy.read_scope: one scope token (RFC 6749 §3.3)");
    expect(policyProblem({ api_audience: "" })).toMatch(/^policy\.api_audience: /);
  });
});
