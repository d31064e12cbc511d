import { describe, expect, it } from "vitest";
import type { Decision__Output } from "@sts/proto";
import { MAX_RECORDED_POLICY_REASON, policyDenialRecord } from "./policy-denial.js";

const deny: Decision__Output = {
  allow: false,
  policy_ids: ["freeze"],
  allowed_scopes: [],
  default_scopes: [],
  max_depth: 0,
  reason: "forbidden by policy freeze",
  policy_revision: "7",
  errors: [],
  policy_generation: "",
};

describe("policyDenialRecord (exchange.denied of a policy's deny)", () => {
  it("names the audience, the deciding forbids, the revision and the reason", () => {
    expect(policyDenialRecord("svc-c", deny)).toEqual({
      denied_audience: "svc-c",
      policy_ids: ["freeze"],
      policy_revision: "7",
      policy_reason: "forbidden by policy freeze",
    });
  });

  it("leaves out a reason that could act on an auditor's terminal or is implausibly long, and keeps the rest", () => {
    for (const reason of ["forbidden\u001b[2J", "broken \ud800", "x".repeat(MAX_RECORDED_POLICY_REASON + 1), ""]) {
      expect(policyDenialRecord("svc-c", { ...deny, reason })).toEqual({ denied_audience: "svc-c", policy_ids: ["freeze"], policy_revision: "7" });
    }
  });

  it("reads a decision naming no revision as revision 0, as token.exchanged does", () => {
    expect(policyDenialRecord("svc-c", { ...deny, policy_revision: "" }).policy_revision).toBe("0");
  });
});
