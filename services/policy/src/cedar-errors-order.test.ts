/**
 * A decision's `errors` are the same, in the same order, whichever load of a policy set answers: cedar-wasm lists a
 * question's evaluation errors in an order that differs between loads of one set (two replicas, an engine rebuilt
 * after a policy.updated), and an answer that changes with the replica cannot be compared or cached as one.
 */
import { describe, expect, it } from "vitest";
import { PolicyEngine } from "./cedar-engine.js";
import type { DecideInput } from "./cedar-engine.js";

const erring = (id: string): { id: string; text: string } => ({
  id,
  text: `forbid (principal, action == Action::"exchange", resource) when { context.depth * 9223372036854775807 > ${id.length} };`,
});
const policies = [
  { id: "gate", text: 'permit (principal, action == Action::"exchange", resource);' },
  ...["e1", "e22", "e333", "e4444", "e55555", "e666666"].map(erring),
];
const question: DecideInput = {
  clientId: "A",
  audience: "B",
  requestedScopes: [],
  subject: { sub: "alice", clientId: "app", iss: "https://sts.example", scopes: [], audience: ["A"] },
  depth: 2,
  actors: [],
  callerInAudience: true,
};

describe("decide: evaluation errors in a stable order", () => {
  it("every load of one set lists the same errors in the same (sorted) order", () => {
    const answers = Array.from({ length: 12 }, () => new PolicyEngine(policies).decide(question).errors);
    const first = answers[0] ?? [];
    expect(first).toHaveLength(6);
    expect(first).toEqual([...first].sort());
    for (const errors of answers) expect(errors).toEqual(first);
  });
});
