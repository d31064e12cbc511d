/**
 * What the set in force costs in cedar-wasm work when something else happens on the replica. cedar-wasm runs on the
 * event loop, so its work is time no Decide is answered in:
 * - a read-only operator's what-if Validate must not take the preparsed slot of the set in force (the next Decide
 *   then re-parsed the whole set), nor read again every policy it did not change;
 * - a change of one policy must not validate every stored policy again (each validation re-reads the schema).
 * The real cedar-wasm, with its calls counted (each call passes through unchanged).
 */
import { beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "@sts/telemetry";
import { waitFor } from "@sts/testkit";
import type * as CedarWasm from "@cedar-policy/cedar-wasm/nodejs";
// vi.mock below is hoisted above these imports: they load the counted cedar-wasm.
import { PolicyEngine } from "./cedar-engine.js";
import type { DecideInput } from "./cedar-engine.js";
import { LivePolicySet } from "./live-policies.js";
import { policyBucket } from "./policy-bucket.fixture.js";

const calls = vi.hoisted(() => ({ preparsePolicySet: 0, policyToJson: 0, validate: 0 }));

vi.mock("@cedar-policy/cedar-wasm/nodejs", async (importOriginal) => {
  const real = await importOriginal<typeof CedarWasm>();
  return {
    ...real,
    preparsePolicySet: (...args: Parameters<typeof real.preparsePolicySet>) => {
      calls.preparsePolicySet++;
      return real.preparsePolicySet(...args);
    },
    policyToJson: (...args: Parameters<typeof real.policyToJson>) => {
      calls.policyToJson++;
      return real.policyToJson(...args);
    },
    validate: (...args: Parameters<typeof real.validate>) => {
      calls.validate++;
      return real.validate(...args);
    },
  };
});

const COUNT = 40;
const permitFor = (i: number): { id: string; text: string } => ({
  id: `p${i}`,
  text: `permit (principal == Client::"c${i}", action == Action::"exchange", resource == Audience::"B");`,
});
const question = (client: string): DecideInput => ({
  clientId: client,
  audience: "B",
  requestedScopes: [],
  subject: { sub: "u", clientId: "app", iss: "https://sts.test", scopes: [], audience: [client] },
  depth: 1,
  actors: [],
  callerInAudience: true,
});

beforeEach(() => {
  calls.preparsePolicySet = 0;
  calls.policyToJson = 0;
  calls.validate = 0;
});

describe("what-if engines", () => {
  const live = new PolicyEngine(Array.from({ length: COUNT }, (_, i) => permitFor(i)));
  /** Decides `rounds` what-ifs, each with one policy of the set in force replaced by a forbid. */
  const whatIfs = (rounds: number): void => {
    for (let k = 0; k < rounds; k++) {
      const whatIf = live.withCandidate({ id: `p${k}`, text: `forbid (principal == Client::"c${k}", action, resource);` });
      expect(whatIf.decide(question(`c${k}`)).allow).toBe(false);
    }
  };

  it("never take the preparsed slot of the set in force: its next decisions re-parse nothing", () => {
    expect(live.decide(question("c1")).allow).toBe(true);
    // More what-ifs than there are slots, as an operator trying candidates one after another would send.
    whatIfs(20);
    const afterWhatIfs = calls.preparsePolicySet;
    expect(live.decide(question("c1")).allow).toBe(true);
    expect(live.decide(question("c2")).allow).toBe(true);
    expect(calls.preparsePolicySet).toBe(afterWhatIfs);
  });

  it("read only the candidate anew, not every policy of the set in force", () => {
    whatIfs(20);
    expect(calls.policyToJson).toBe(20);
  });
});

describe("a rebuild of the set in force", () => {
  it("validates only the policies that changed, not every stored one again", async () => {
    const bucket = policyBucket();
    const { cache } = bucket;
    const write = (p: { id: string; text: string }): void => bucket.write({ ...p, description: "", source: "api", updated_at: 0 });
    for (let i = 0; i < COUNT; i++) write(permitFor(i));
    const live = new LivePolicySet(cache, undefined, createLogger("cedar-calls-test", { level: "silent" }), { generation: "g" });
    expect([live.revision(), calls.validate]).toEqual([BigInt(COUNT), COUNT]);

    calls.validate = 0;
    calls.policyToJson = 0;
    write({ id: "freeze-c1", text: 'forbid (principal == Client::"c1", action, resource);' });
    await waitFor(() => live.revision() === BigInt(COUNT + 1), { timeoutMs: 2000, message: "the change was not applied" });
    expect(live.engine().decide(question("c1")).allow).toBe(false);
    expect(live.engine().decide(question("c2")).allow).toBe(true);
    expect(calls.validate).toBe(1);
  });
});
