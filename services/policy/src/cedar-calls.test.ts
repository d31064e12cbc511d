/**
 * What the set in force costs in cedar-wasm work when something else happens on the replica. cedar-wasm runs on the
 * event loop, so its work is time no Decide is answered in:
 * - a read-only operator's what-if Validate must not take the preparsed slot of the set in force (the next Decide
 *   then re-parsed the whole set), nor read again every policy it did not change;
 * - a change of one policy must not validate every stored policy again (each validation re-reads the schema).
 * The real cedar-wasm, with its calls counted (each call passes through unchanged).
 */
import { beforeEach, describe, expect, it, vi } from "vitest";
import { Metadata, credentials } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import type { KV } from "@nats-io/kv";
import { startGrpcServer } from "@sts/grpc";
import { loadPolicyProto } from "@sts/proto";
import type { Decision__Output } from "@sts/proto";
import { createLogger } from "@sts/telemetry";
import { waitFor } from "@sts/testkit";
import type * as CedarWasm from "@cedar-policy/cedar-wasm/nodejs";
// vi.mock below is hoisted above these imports: they load the counted cedar-wasm.
import { PolicyEngine } from "./cedar-engine.js";
import type { DecideInput } from "./cedar-engine.js";
import { LivePolicySet } from "./live-policies.js";
import { breakGlassOnly } from "./operators.fixture.js";
import { policyBucket } from "./policy-bucket.fixture.js";
import { PolicyStore } from "./policy-store.js";
import { policyService } from "./service.js";

const calls = vi.hoisted(() => ({ preparsePolicySet: 0, policyToJson: 0, validate: 0, parsedPolicies: [] as number[] }));

vi.mock("@cedar-policy/cedar-wasm/nodejs", async (importOriginal) => {
  const real = await importOriginal<typeof CedarWasm>();
  return {
    ...real,
    preparsePolicySet: (...args: Parameters<typeof real.preparsePolicySet>) => {
      calls.preparsePolicySet++;
      const statics = (args[1] as { staticPolicies?: object }).staticPolicies;
      calls.parsedPolicies.push(statics && typeof statics === "object" ? Object.keys(statics).length : -1);
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
  calls.parsedPolicies = [];
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

describe("a what-if Validate", () => {
  it("parses only the policies that can apply to the question's client and audience, not the whole set, on the event loop every Decide waits on", async () => {
    const logger = createLogger("cedar-calls-test", { level: "silent" });
    const bucket = policyBucket();
    const write = (p: { id: string; text: string }): void => bucket.write({ ...p, description: "", source: "api", updated_at: 0 });
    for (let i = 0; i < COUNT; i++) write(permitFor(i));
    // Broad policies: one applies to every question to B (kept), one to another audience only (left out).
    write({ id: "scopes-anyone", text: 'permit (principal, action == Action::"request_scope", resource) when { context.scope == "b" };' });
    write({ id: "freeze-z", text: 'forbid (principal, action, resource == Audience::"Z");' });
    const live = new LivePolicySet(bucket.cache, undefined, logger, { generation: "g" });
    const secret = "break-glass-secret-for-the-cedar-calls-test";
    const implementation = policyService({
      live,
      store: new PolicyStore({} as KV, () => 0),
      operators: breakGlassOnly(secret),
      logger,
      configPolicies: new Map(),
      maxPolicies: 1000,
    });
    const proto = loadPolicyProto();
    const server = await startGrpcServer({ port: 0, services: [{ definition: proto.sts.policy.v1.PolicyService.service, implementation }], logger });
    const client = new proto.sts.policy.v1.PolicyService(server.address, credentials.createInsecure());
    try {
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${secret}`);
      const wire = {
        client_id: "c3",
        audience: "B",
        requested_scopes: ["b"],
        subject: { sub: "u", client_id: "app", iss: "https://sts.test", scopes: ["b"], audience: ["c3"] },
        depth: 1,
        actors: [],
        caller_in_audience: true,
      };
      const validate = (request: object): Promise<Decision__Output> =>
        new Promise((resolve, reject) =>
          client.Validate(request, metadata, (err: ServiceError | null, res?: Decision__Output) =>
            err || !res ? reject(err ?? new Error("no answer")) : resolve(res),
          ),
        );
      calls.parsedPolicies = [];
      const frozen = await validate({ request: wire, candidate: { id: "p3", text: 'forbid (principal == Client::"c3", action, resource);' } });
      expect(frozen).toMatchObject({ allow: false, policy_ids: ["p3"] });
      const without = await validate({ request: wire, without: "p3" });
      expect(without).toMatchObject({ allow: false, policy_ids: [] });
      const unchanged = await validate({ request: wire, candidate: { id: "p3", text: permitFor(3).text } });
      expect(unchanged).toMatchObject({ allow: true, policy_ids: ["p3"], allowed_scopes: ["b"] });
      // The candidate (or nothing) beside the one broad policy that applies to B: not the set's 42.
      expect(calls.parsedPolicies).toEqual([2, 1, 2]);
    } finally {
      client.close();
      await server.shutdown(0);
    }
  });
});
