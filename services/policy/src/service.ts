/** sts.policy.v1.PolicyService handlers over the live engine and the KV store. */
import { OAuthError, invalidRequest, isCleanText, isShownAsWritten } from "@sts/errors";
import { requirePeerSpiffeId, unary } from "@sts/grpc";
import type { DecideRequest__Output, Decision, Policy, PolicyServiceHandlers } from "@sts/proto";
import type { Logger } from "@sts/telemetry";
import type { PolicyEngine } from "./cedar-engine.js";
import type { DecideInput, Decision as EngineDecision } from "./cedar-engine.js";
import type { CompiledPolicy } from "./hops.js";
import type { OperatorAccess } from "./operator-access.js";
import { checkPolicyId } from "./policy-store.js";
import { policyProblem } from "./policy-text.js";
import type { PolicyStore, StoredPolicy } from "./policy-store.js";

/** The engine in force, the KV revision it was built from, and the generation of the bucket that revision counts in. */
export interface PolicySetInForce {
  engine: PolicyEngine;
  revision: bigint;
  generation: string;
}

/** The engine currently in force, with the KV revision it was built from. */
export interface LivePolicies {
  /** The set to decide with; throws temporarily_unavailable when this replica's copy may be out of date. */
  inForce(): PolicySetInForce;
  /**
   * Resolves once this replica runs `revision` and JetStream has stored the policy.updated record of the operator's
   * change made at it; rejects with temporarily_unavailable when that has not happened by the deadline.
   */
  recorded(revision: bigint, deadline?: Date): Promise<void>;
  get(id: string): (StoredPolicy & { revision: bigint }) | undefined;
  list(): Array<StoredPolicy & { revision: bigint }>;
}

/** What the handlers use. */
export interface PolicyServiceDeps {
  live: LivePolicies;
  store: PolicyStore;
  /** Names the operator of every call but Decide, or refuses it. */
  operators: OperatorAccess;
  logger: Logger;
  /** With grpc_tls.spiffe_ids.exchanger: the only certificate identity Decide answers (decisions reveal the policy set). */
  deciderSpiffeId?: string;
  /** The policies this replica's config file declares (its hops, compiled at start), by id: what Reset hands back to. */
  configPolicies: ReadonlyMap<string, CompiledPolicy>;
  /** policy.max_policies: a Put adding an id to a set this large is refused. */
  maxPolicies: number;
}

/** Converts the wire request into the engine's input, refusing malformed ones. */
export function toDecideInput(req: DecideRequest__Output): DecideInput {
  if (!req.client_id) throw invalidRequest("client_id is required");
  if (!req.audience) throw invalidRequest("audience is required");
  return {
    clientId: req.client_id,
    audience: req.audience,
    requestedScopes: [...req.requested_scopes],
    subject: {
      sub: req.subject?.sub ?? "",
      clientId: req.subject?.client_id ?? "",
      iss: req.subject?.iss ?? "",
      scopes: [...(req.subject?.scopes ?? [])],
      audience: [...(req.subject?.audience ?? [])],
    },
    depth: req.depth,
    actors: [...req.actors],
    callerInAudience: req.caller_in_audience,
  };
}

function toWire(d: EngineDecision, { revision, generation }: PolicySetInForce): Decision {
  return {
    allow: d.allow,
    policy_ids: d.policyIds,
    allowed_scopes: d.allowedScopes,
    default_scopes: d.defaultScopes,
    max_depth: d.maxDepth,
    reason: d.reason,
    policy_revision: revision.toString(),
    errors: d.errors,
    policy_generation: generation,
  };
}

/**
 * Refuses a description holding control characters or broken UTF-16: it is stored and shown to every operator as is
 * (`stsctl policy list` prints it on the policy's line), where a newline or an escape sequence would forge other lines,
 * and a line separator or bidi control would make the line read otherwise than it is (Trojan Source, CVE-2021-42574).
 */
export function checkDescription(description: string): void {
  if (!isCleanText(description) || !isShownAsWritten(description)) {
    throw invalidRequest("description must not hold control characters, line separators, bidi controls or broken UTF-16");
  }
}

/** Refuses a policy text from a request that does not parse or validate, naming where and why. */
function checkPolicyText(text: string, id: string): void {
  const problem = policyProblem(text, id);
  if (problem) throw invalidRequest(problem);
}

/** A policy id that names nothing in force (never stored, or deleted): NOT_FOUND, as for Reset, not a malformed request. */
const noSuchPolicy = (): OAuthError => new OAuthError("not_found", "no such policy");

/** The expected_revision of a write: none when absent or 0. */
function expectedRevision(wire: string): bigint | undefined {
  return wire && wire !== "0" ? BigInt(wire) : undefined;
}

function toPolicy(p: StoredPolicy & { revision: bigint }): Policy {
  return { id: p.id, text: p.text, description: p.description, revision: p.revision.toString(), source: p.source, ...(p.author && { author: p.author }) };
}

/** Builds the PolicyService implementation. */
export function policyService(deps: PolicyServiceDeps): PolicyServiceHandlers {
  const { live, store, logger, operators } = deps;
  return {
    Decide: unary(
      async (req, ctx) => {
        requirePeerSpiffeId(ctx, deps.deciderSpiffeId, "exchanger");
        const input = toDecideInput(req);
        // Never from a copy that may lack an operator's newer forbid: refused, the exchanger fails closed.
        const set = live.inForce();
        return toWire(set.engine.decide(input), set);
      },
      { name: "Decide", logger },
    ),

    // What-if, Get and List are for operators: Validate compiles any Cedar it is given, and policies are not for every caller to read.
    Validate: unary(
      async (req, ctx) => {
        await operators.read(ctx.metadata);
        if (!req.request) throw invalidRequest("request is required");
        const input = toDecideInput(req.request);
        // A candidate sent is evaluated or refused, as Put would take or refuse it: one with an empty text was skipped,
        // and the set in force answered as though the candidate had been weighed.
        const candidate = req.candidate ? { id: req.candidate.id, text: req.candidate.text } : undefined;
        if (candidate) {
          checkPolicyId(candidate.id);
          checkPolicyText(candidate.text, candidate.id);
        }
        // As Decide: an operator asking "what would happen" must not be told from a set that may be out of date.
        const set = live.inForce();
        const without = req.without || undefined;
        if (without !== undefined) {
          checkPolicyId(without);
          if (candidate?.id === without) throw invalidRequest("candidate and without name the same policy");
          if (!set.engine.holdsId(without)) throw noSuchPolicy();
        }
        const decision = candidate || without !== undefined ? set.engine.whatIf(input, { candidate, without }) : set.engine.decide(input);
        return toWire(decision, set);
      },
      { name: "Validate", logger },
    ),

    Put: unary(
      async (req, ctx) => {
        const operator = await operators.write(ctx.metadata);
        const p = req.policy;
        if (!p) throw invalidRequest("policy is required");
        checkPolicyId(p.id);
        checkDescription(p.description);
        checkPolicyText(p.text, p.id);
        // Replacing a policy never grows the set; another replica's concurrent Put may pass it by one, which the
        // ceiling's headroom absorbs (config schema).
        if (!live.get(p.id) && live.list().length >= deps.maxPolicies) {
          throw new OAuthError(
            "failed_precondition",
            `the policy set holds its maximum of ${deps.maxPolicies} policies (policy.max_policies): delete one first`,
          );
        }
        const revision = await store.put({ id: p.id, text: p.text, description: p.description }, operator, expectedRevision(req.expected_revision));
        ctx.logger.info({ policy_id: p.id, revision: revision.toString(), operator: operator.sub, client_id: operator.client_id }, "policy written");
        // Answer once this replica runs the new set, so "the next exchange" sees it, and the change's record is stored.
        await live.recorded(revision, ctx.deadline);
        return { revision: revision.toString() };
      },
      { name: "Put", logger },
    ),

    Get: unary(
      async (req, ctx) => {
        await operators.read(ctx.metadata);
        // As Validate: an operator must not be shown as in force a policy another replica has since deleted or changed.
        live.inForce();
        const p = live.get(req.id);
        if (!p) throw noSuchPolicy();
        return toPolicy(p);
      },
      { name: "Get", logger },
    ),

    List: unary(
      async (_req, ctx) => {
        await operators.read(ctx.metadata);
        live.inForce();
        return { policies: live.list().map(toPolicy) };
      },
      { name: "List", logger },
    ),

    Delete: unary(
      async (req, ctx) => {
        const operator = await operators.write(ctx.metadata);
        checkPolicyId(req.id);
        const current = live.get(req.id);
        if (!current) throw noSuchPolicy();
        // Only over the version this replica runs: a lagging view must neither drop a newer Put nor delete twice.
        const revision = await store.delete(req.id, operator, current.revision);
        ctx.logger.info({ policy_id: req.id, revision: revision.toString(), operator: operator.sub, client_id: operator.client_id }, "policy deleted");
        await live.recorded(revision, ctx.deadline);
        return {};
      },
      { name: "Delete", logger },
    ),

    Reset: unary(
      async (req, ctx) => {
        // Who may not change policies learns nothing, not even which ids the config file declares.
        const operator = await operators.write(ctx.metadata);
        checkPolicyId(req.id);
        // The answering replica's config file wins. During a rollout replicas may run different files: a Reset then
        // stores the version of whichever file the replica that answers holds. That is acceptable: either version is
        // one an operator's config file declared, the stored one is config-managed again, so the next start of a
        // replica with the new file rewrites it to the new file's version as it does any config hop, and the answer
        // and the policy.updated record give the revision written, which Get shows.
        const declared = deps.configPolicies.get(req.id);
        // A fixed text: an error description never echoes the input (SECURITY.md).
        if (!declared) throw new OAuthError("not_found", "the config file declares no hop policy of that id");
        // Start refuses hops that do not validate; should one not now (a schema changed under it), nothing is stored, as for a Put.
        const problem = policyProblem(declared.text, declared.id);
        if (problem) {
          ctx.logger.error({ policy_id: req.id, problem }, "the config file's version of a policy does not validate: not stored");
          throw new OAuthError("server_error", `the config file's version of policy ${req.id} does not validate; nothing was stored`);
        }
        const { revision, changed } = await store.reset(declared, operator, expectedRevision(req.expected_revision));
        const fields = { policy_id: req.id, revision: revision.toString(), operator: operator.sub, client_id: operator.client_id };
        if (!changed) {
          ctx.logger.info(fields, "policy already is the config file's version: nothing written");
          return { revision: revision.toString(), changed };
        }
        ctx.logger.info(fields, "policy handed back to the config file");
        // As Put: answer once this replica runs the config's version again and the change's record is stored.
        await live.recorded(revision, ctx.deadline);
        return { revision: revision.toString(), changed };
      },
      { name: "Reset", logger },
    ),
  };
}
