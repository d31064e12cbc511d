/** Whether a policy text may be stored: the one rule for Put, Reset and the hops a config file declares. */
import { PolicyEngine } from "./cedar-engine.js";
import type { CompiledPolicy } from "./hops.js";
import { MAX_POLICY_BYTES } from "./policy-store.js";

/** Why a policy text may not be stored (too large, does not parse or validate, naming where), or undefined. */
export function policyProblem(text: string, id: string): string | undefined {
  if (Buffer.byteLength(text) > MAX_POLICY_BYTES) return "policy text is too large";
  // With the id, an @id annotation naming another policy is refused too.
  const result = PolicyEngine.validatePolicy(text, { id });
  if (result.ok) return undefined;
  const first = result.errors[0];
  const where = first?.line !== undefined ? `line ${first.line}, column ${first.column ?? 0}: ` : "";
  // Cedar messages quote with "; error_description may not contain it.
  return `invalid policy: ${where}${(first?.message ?? "rejected").replace(/"/g, "'")}`.slice(0, 400);
}

/**
 * Throws, naming each, when a policy compiled from the config file's hops may not be stored: the file is refused at
 * start, as a malformed hop is, rather than seeded with a policy that Put would refuse and Reset could not restore.
 */
export function checkHopPolicies(policies: readonly CompiledPolicy[]): void {
  const problems = policies.flatMap((p) => {
    const problem = policyProblem(p.text, p.id);
    return problem ? [`policy.hops: ${p.id}, the policy of a hop: ${problem}`] : [];
  });
  if (problems.length > 0) throw new TypeError(problems.join("; "));
}
