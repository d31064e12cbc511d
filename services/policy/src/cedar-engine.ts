/**
 * Decisions with Cedar (@cedar-policy/cedar-wasm). Deny by default; an
 * evaluation error never allows. The policy set is parsed once per engine
 * (preparsePolicySet) so a decision does not re-parse policy text.
 */
import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import type { DetailedError } from "@cedar-policy/cedar-wasm/nodejs";
import { ANNOTATIONS, CEDAR_SCHEMA } from "./schema.js";

/** One exchange question. */
export interface DecideInput {
  clientId: string;
  audience: string;
  requestedScopes: string[];
  subject: { sub: string; clientId: string; iss: string; scopes: string[]; audience: string[] };
  depth: number;
  actors: string[];
  callerInAudience: boolean;
}

/** The answer. */
export interface Decision {
  allow: boolean;
  policyIds: string[];
  allowedScopes: string[];
  defaultScopes: string[];
  maxDepth: number;
  reason: string;
  errors: string[];
}

/** A problem in a policy text, with its position. */
export interface PolicyProblem {
  message: string;
  line?: number;
  column?: number;
  offset?: number;
}

/** A policy as the engine takes it. */
export interface PolicyText {
  id: string;
  text: string;
}

const SCHEMA_NAME = "sts-exchange";
let schemaReady = false;
let psetCounter = 0;

function ensureSchema(): void {
  if (schemaReady) return;
  const r = cedar.preparseSchema(SCHEMA_NAME, CEDAR_SCHEMA);
  if (r.type !== "success") throw new TypeError(`Cedar schema does not parse: ${r.errors.map((e) => e.message).join("; ")}`);
  schemaReady = true;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split("\n");
  return { line: before.length, column: (before[before.length - 1]?.length ?? 0) + 1 };
}

function problems(text: string, errors: readonly DetailedError[]): PolicyProblem[] {
  return errors.map((e) => {
    const loc = e.sourceLocations?.[0];
    const message = [e.message, loc?.label, e.help].filter(Boolean).join("; ");
    return loc ? { message, offset: loc.start, ...lineColumn(text, loc.start) } : { message };
  });
}

/** Reads the annotations of one policy. */
function annotationsOf(text: string): Record<string, string> {
  const r = cedar.policyToJson(text);
  return r.type === "success" ? ((r.json as { annotations?: Record<string, string> }).annotations ?? {}) : {};
}

const CONTROL = /[\x00-\x1f\x7f]/;

/** An immutable, pre-parsed policy set. */
export class PolicyEngine {
  readonly #policies: ReadonlyMap<string, PolicyText>;
  readonly #annotations = new Map<string, Record<string, string>>();
  readonly #psetId: string;

  /** Builds an engine; every policy must already have passed validatePolicy. */
  constructor(policies: readonly PolicyText[]) {
    ensureSchema();
    this.#policies = new Map(policies.map((p) => [p.id, p]));
    for (const p of policies) this.#annotations.set(p.id, annotationsOf(p.text));
    this.#psetId = `pset-${++psetCounter}`;
    const r = cedar.preparsePolicySet(this.#psetId, { staticPolicies: Object.fromEntries(policies.map((p) => [p.id, p.text])) });
    if (r.type !== "success") throw new TypeError(`policy set does not parse: ${r.errors.map((e) => e.message).join("; ")}`);
  }

  /** Parses and validates one policy text against the schema (strict), with positions. */
  static validatePolicy(text: string): { ok: true } | { ok: false; errors: PolicyProblem[] } {
    ensureSchema();
    const parts = cedar.policySetTextToParts(text);
    if (parts.type !== "success") return { ok: false, errors: problems(text, parts.errors) };
    if (parts.policies.length !== 1 || parts.policy_templates.length > 0)
      return { ok: false, errors: [{ message: "exactly one static policy (permit or forbid) per id" }] };
    const r = cedar.validate({ schema: CEDAR_SCHEMA, policies: { staticPolicies: { candidate: text } }, validationSettings: { mode: "strict" } });
    if (r.type === "failure") return { ok: false, errors: problems(text, r.errors) };
    if (r.validationErrors.length > 0)
      return {
        ok: false,
        errors: problems(
          text,
          r.validationErrors.map((v) => v.error),
        ),
      };
    return { ok: true };
  }

  /** The same set with one policy added or replaced (what-if); this engine is untouched. */
  withCandidate(policy: PolicyText): PolicyEngine {
    const next = new Map(this.#policies);
    next.set(policy.id, policy);
    return new PolicyEngine([...next.values()]);
  }

  /** Policy ids, sorted. */
  ids(): string[] {
    return [...this.#policies.keys()].sort();
  }

  #authorize(
    action: "exchange" | "request_scope",
    input: DecideInput,
    extra: Record<string, string> = {},
  ): { allow: boolean; reasons: string[]; errors: string[] } {
    const context = {
      subject: {
        sub: input.subject.sub,
        client_id: input.subject.clientId,
        iss: input.subject.iss,
        scopes: input.subject.scopes,
        audience: input.subject.audience,
      },
      requested_scopes: input.requestedScopes,
      depth: input.depth,
      actors: input.actors,
      caller_in_audience: input.callerInAudience,
      ...extra,
    };
    const r = cedar.statefulIsAuthorized({
      principal: { type: "Client", id: input.clientId },
      action: { type: "Action", id: action },
      resource: { type: "Audience", id: input.audience },
      context,
      preparsedPolicySetId: this.#psetId,
      preparsedSchemaName: SCHEMA_NAME,
      validateRequest: true,
      entities: [],
    });
    if (r.type !== "success") return { allow: false, reasons: [], errors: r.errors.map((e) => e.message) };
    const errors = r.response.diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`);
    return { allow: r.response.decision === "allow", reasons: [...r.response.diagnostics.reason], errors };
  }

  /** Decides one exchange. */
  decide(input: DecideInput): Decision {
    const strings = [input.clientId, input.audience, ...input.requestedScopes, ...input.actors];
    if (strings.some((s) => s.length > 1024 || CONTROL.test(s))) {
      return { allow: false, policyIds: [], allowedScopes: [], defaultScopes: [], maxDepth: 0, reason: "malformed request", errors: [] };
    }
    const base = this.#authorize("exchange", input);
    if (!base.allow) {
      const reason =
        base.reasons.length > 0
          ? `forbidden by ${base.reasons.join(", ")}`
          : `no policy permits client ${input.clientId} to exchange for audience ${input.audience}`;
      return { allow: false, policyIds: base.reasons, allowedScopes: [], defaultScopes: [], maxDepth: 0, reason, errors: base.errors };
    }
    const errors = [...base.errors];
    const allowedScopes: string[] = [];
    for (const scope of input.requestedScopes) {
      const r = this.#authorize("request_scope", input, { scope });
      errors.push(...r.errors);
      if (r.allow) allowedScopes.push(scope);
    }
    const defaults = new Set<string>();
    let maxDepth = 0;
    for (const id of base.reasons) {
      const a = this.#annotations.get(id) ?? {};
      for (const s of (a[ANNOTATIONS.DEFAULT_SCOPE] ?? "").split(" ").filter(Boolean)) defaults.add(s);
      const d = Number(a[ANNOTATIONS.MAX_DEPTH]);
      if (Number.isInteger(d) && d > 0) maxDepth = maxDepth === 0 ? d : Math.min(maxDepth, d);
    }
    return {
      allow: true,
      policyIds: base.reasons,
      allowedScopes,
      defaultScopes: [...defaults],
      maxDepth,
      reason: `permitted by ${base.reasons.join(", ")}`,
      errors,
    };
  }
}
