/** Whether a policy text may be stored: the one rule for Put, Reset and the hops a config file declares. */
import { PolicyEngine } from "./cedar-engine.js";
import { compileHops } from "./hops.js";
import type { CompiledPolicy, HopDeclaration } from "./hops.js";
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
 * The config file's hops compiled into policies (see compileHops), each checked as Put checks a text. Throws, naming
 * each hop by its place in the file, when one compiles to a policy that may not be stored: the file is refused at
 * start, as a malformed hop is, rather than seeded with a policy that Put would refuse and Reset could not restore;
 * likewise when the hops compile to more than `maxPolicies` (policy.max_policies) policies.
 */
export function compileConfigHops(hops: readonly HopDeclaration[], maxPolicies = Infinity): CompiledPolicy[] {
  const policies = compileHops(hops);
  // Checked before any text: seeding past the bound would leave no room for an operator's Put.
  if (policies.length > maxPolicies) {
    throw new TypeError(`policy.hops: the ${hops.length} hops compile to ${policies.length} policies, more than policy.max_policies (${maxPolicies})`);
  }
  const problems = policies.flatMap((policy) => {
    const problem = policyProblem(policy.text, policy.id);
    if (!problem) return [];
    // Only for the message: the hop of the file the policy came from.
    const i = hops.findIndex((hop) => compileHops([hop]).some((p) => p.id === policy.id));
    const where = `policy.hops[${i}] (${JSON.stringify(hops[i]?.from)} → ${JSON.stringify(hops[i]?.to)}), its policy ${policy.id}`;
    const size = Buffer.byteLength(policy.text);
    // Only the lists a hop declares make its policies long.
    if (size > MAX_POLICY_BYTES)
      return [
        `${where}: ${size} bytes, past the ${MAX_POLICY_BYTES} a policy may have; list fewer scopes or default_scopes (a name:/path scope covers every path below it)`,
      ];
    return [`${where}: ${problem}`];
  });
  if (problems.length > 0) throw new TypeError(problems.join("; "));
  return policies;
}
