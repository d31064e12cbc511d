/**
 * Exchange decisions with Cedar (@cedar-policy/cedar-wasm): pure, no I/O.
 *
 * Fail-closed rules (ARCHITECTURE.md "internal failures fail closed"):
 * - deny by default: no satisfied permit, no exchange;
 * - any evaluation error is a deny for that question. Cedar itself skips an
 *   erroring policy, so an erroring *forbid* would otherwise let a permit
 *   through;
 * - a malformed request (control characters, absurd sizes, a depth that is
 *   not a whole number, a scope that is not one canonical scope token) is
 *   denied before Cedar sees it;
 * - no policy text nesting deeper than MAX_POLICY_DEPTH reaches cedar-wasm:
 *   its stack overflow would corrupt the module for every later decision
 *   (policy-depth.ts);
 * - a scope is granted only when `request_scope` allows it, @default_scope
 *   ones included, so a forbid on a scope also covers the defaults.
 *
 * Policy ids: the id a policy is stored under is its id in every decision
 * and in {@link PolicyEngine.withCandidate}. An `@id` annotation is
 * documentation; {@link PolicyEngine.validatePolicy} given the storage id
 * refuses one that differs, so the two never disagree for policies written
 * through the API.
 *
 * Speed: the policy set is parsed once per engine into cedar-wasm's
 * preparsed cache (statefulIsAuthorized), so a decision parses no policy
 * text. That cache lives in wasm memory and cannot be freed, so engines share
 * a few recycled slots (least recently used first); an engine that lost its
 * slot re-parses on its next decision. What-if engines (Validate, built with
 * {@link PolicyEngine.withCandidate}) have slots of their own: a read-only
 * operator's what-ifs never take the slot of the set in force, which would
 * otherwise re-parse the whole set on the next Decide.
 *
 * Work per decision: one `exchange` question, then one `request_scope`
 * question per requested scope (and @narrow_to and @default_scope candidate),
 * and cedar-wasm converts and checks the context on every one. A question is
 * bounded as a whole (MAX_DECISION_*, libs/scopes: what an exchanger can send),
 * and the per-scope questions carry only the context attributes that the
 * `request_scope` policies able to apply to the client and audience read
 * (context-reads.ts); the others go empty, which changes no answer.
 */
import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import type { AuthorizationAnswer, Context, DetailedError } from "@cedar-policy/cedar-wasm/nodejs";
import { isShownAsWritten } from "@sts/errors";
import { MAX_DECISION_CHARS, MAX_DECISION_REQUESTED_SCOPES, MAX_DECISION_SUBJECT_SCOPES, covers, decisionChars, isCleanName, tryParseScope } from "@sts/scopes";
import { actionMayBe, contextReadsOf, prunedContext, unionReads } from "./context-reads.js";
import type { ContextReads, DecisionContext } from "./context-reads.js";
import { ACTIONS, ANNOTATIONS, CEDAR_SCHEMA, ENTITY_TYPES, MAX_LIST_LENGTH, MAX_NAME_LENGTH, hasLoneSurrogate } from "./schema.js";
import type { ActionId } from "./schema.js";
import { MAX_POLICY_DEPTH, policyDepth } from "./policy-depth.js";

/** One exchange question (DecideRequest in sts.policy.v1). */
export interface DecideInput {
  /** Authenticated calling client: the principal `Client::"<clientId>"`. */
  clientId: string;
  /** Target audience: the resource `Audience::"<audience>"`. */
  audience: string;
  /** Scopes asked for; empty when the request names none. */
  requestedScopes: readonly string[];
  /** The subject token's relevant claims. */
  subject: { sub: string; clientId: string; iss: string; scopes: readonly string[]; audience: readonly string[] };
  /** Delegation chain depth of the token to be issued (1 for the first exchange). */
  depth: number;
  /** Client ids already in the act chain. */
  actors: readonly string[];
  /** Whether the caller is in the subject token's audience. */
  callerInAudience: boolean;
}

/** The answer (Decision in sts.policy.v1, without the revision). */
export interface Decision {
  allow: boolean;
  /** The satisfied `exchange` permits on allow; on deny the satisfied forbids, or none. */
  policyIds: string[];
  /**
   * Of the requested scopes, those `request_scope` allows (in request order); in place of one it does not, the narrower
   * `@narrow_to` scopes of the deciding permits under it that it does allow.
   */
  allowedScopes: string[];
  /** @default_scope of the deciding permits that `request_scope` also allows. */
  defaultScopes: string[];
  /**
   * Smallest @max_depth of the deciding permits; 0 when none sets one. On a deny, set only when the chain's depth is
   * what was refused (over that bound), so the caller can tell a too-deep chain from an audience not permitted.
   */
  maxDepth: number;
  /** Human-readable, for logs and the exchange.denied event. */
  reason: string;
  /** Evaluation errors met (they never cause an allow). */
  errors: string[];
}

/** A problem in a policy text; `offset` is a UTF-8 byte offset, `line`/`column` are 1-based (column in characters). */
export interface PolicyProblem {
  message: string;
  line?: number;
  column?: number;
  offset?: number;
}

/** A policy as the engine takes it: exactly one Cedar permit or forbid statement. */
export interface PolicyText {
  id: string;
  text: string;
}

/** What {@link PolicyEngine.validatePolicy} answers. */
export type PolicyValidation = { ok: true } | { ok: false; errors: PolicyProblem[] };

/** Largest policy text accepted, in UTF-8 bytes. */
export const MAX_POLICY_TEXT_BYTES = 64 * 1024;
/** Largest delegation depth a request may carry (int32 on the wire). */
const MAX_DEPTH_VALUE = 2 ** 31 - 1;

const SCHEMA_NAME = "sts.policy.exchange";
const SLOT_COUNT = 8;
/** Slots for what-if engines: each lives for one Validate call. */
const WHAT_IF_SLOT_COUNT = 2;

// Policy texts may hold tab, line feed and carriage return, nothing else below 0x20.
const TEXT_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const LINE_BREAKS_AND_TABS = /[\t\n\r]/g;

/**
 * Where `text` first holds a character that is not shown as written, other than tab and line ends: C1 controls,
 * U+2028/U+2029 and bidi controls, with which a policy reads otherwise than it evaluates in `stsctl policy get`, an
 * editor or a review (Trojan Source, CVE-2021-42574: a forbid's string or a comment reordered over the condition).
 * Cedar takes them anywhere in a string or comment; a string may still hold them, written `\u{202e}`.
 */
function unshownAt(text: string): number | undefined {
  const flat = text.replace(LINE_BREAKS_AND_TABS, " ");
  if (isShownAsWritten(flat)) return undefined;
  for (let i = 0; i < flat.length; i++) if (!isShownAsWritten(flat.charAt(i))) return i;
  return undefined;
}

const MAX_DEPTH_ANNOTATION = /^[1-9][0-9]{0,8}$/;

let schemaLoaded = false;

/** Loads the schema into cedar-wasm's cache once per process. */
function ensureSchema(): void {
  if (schemaLoaded) return;
  const r = cedar.preparseSchema(SCHEMA_NAME, CEDAR_SCHEMA);
  if (r.type !== "success") throw new TypeError(`the Cedar schema does not parse: ${r.errors.map((e) => e.message).join("; ")}`);
  schemaLoaded = true;
}

interface Slot {
  readonly name: string;
  owner: number;
  lastUsed: number;
}

const newSlots = (prefix: string, count: number): Slot[] => Array.from({ length: count }, (_, i) => ({ name: `${prefix}.${i}`, owner: 0, lastUsed: 0 }));
const slots: Slot[] = newSlots("sts.policy.set", SLOT_COUNT);
const whatIfSlots: Slot[] = newSlots("sts.policy.what-if", WHAT_IF_SLOT_COUNT);

/** How an engine is built beyond its policies. */
export interface PolicyEngineOptions {
  /**
   * An engine whose reading of each policy is taken where the text is the same, rather than parsed again: building
   * the next set (a rebuild, a what-if) then reads only the policies that changed.
   */
  basis?: PolicyEngine;
  /** A what-if engine: its set goes into the what-if slots, never into one an engine in force holds. */
  whatIf?: boolean;
  /**
   * false: every per-scope question carries the whole context, as before context-reads.ts (the reference the pruning
   * is tested against). Default true.
   */
  pruneScopeContext?: boolean;
}
let clock = 0;
let engineSerial = 0;

/** The entities a policy's principal or resource scope can match: of one type, or one entity; a field left out, any. */
interface EntityScope {
  type?: string;
  id?: string;
}

/** A what-if's change to a set: one policy added or replaced, one left out. */
export interface WhatIfChange {
  candidate?: PolicyText;
  without?: string;
}

/** What one policy contributes beyond its text. */
interface PolicyMeta {
  effect: "permit" | "forbid";
  defaultScopes: string[];
  maxDepth: number;
  anyPresenter: boolean;
  narrowTo: string[];
  principal: EntityScope;
  resource: EntityScope;
  /** What its conditions read of the context when it can apply to `request_scope` questions; an empty set otherwise. */
  scopeReads: ContextReads;
}

/** An entity reference of Cedar's JSON policy format (`{type, id}`), or undefined. */
function entityOf(raw: unknown): { type: string; id: string } | undefined {
  const e = raw as { type?: unknown; id?: unknown } | null | undefined;
  return typeof e?.type === "string" && typeof e.id === "string" ? { type: e.type, id: e.id } : undefined;
}

/**
 * What a principal or resource scope (Cedar's JSON policy format) can match. Decisions pass no entities, so an entity
 * has no ancestors and `in E` matches E alone, as `== E` does. Any shape not read here matches everything: a policy
 * kept that cannot apply changes no decision, one left out that can would.
 */
function entityScopeOf(raw: unknown): EntityScope {
  const c = raw as { op?: unknown; entity?: unknown; entity_type?: unknown; in?: { entity?: unknown } } | null | undefined;
  if (c?.op === "==" || c?.op === "in") return entityOf(c.entity) ?? {};
  if (c?.op === "is" && typeof c.entity_type === "string") {
    const within = entityOf(c.in?.entity);
    return within?.type === c.entity_type ? within : { type: c.entity_type };
  }
  return {};
}

/** Whether an entity is one `scope` can match. */
function admits(scope: EntityScope, entity: { type: string; id: string }): boolean {
  return (scope.type === undefined || scope.type === entity.type) && (scope.id === undefined || scope.id === entity.id);
}

/** Line and column (1-based, column in Unicode characters) of a UTF-8 byte offset. */
function position(text: string, byteOffset: number): { line: number; column: number; offset: number } {
  const bytes = new TextEncoder().encode(text);
  const offset = Math.max(0, Math.min(byteOffset, bytes.length));
  const before = new TextDecoder().decode(bytes.subarray(0, offset));
  const lineStart = before.lastIndexOf("\n") + 1;
  return { line: before.split("\n").length, column: [...before.slice(lineStart)].length + 1, offset };
}

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

/** Cedar names our throwaway id in its messages; the operator knows the policy by its own id. */
function tidy(message: string): string {
  return message.replace(/^for policy `[^`]*`, /, "");
}

function problemsOf(text: string, errors: readonly DetailedError[]): PolicyProblem[] {
  return errors.map((e) => {
    const loc = e.sourceLocations?.[0];
    const message = [tidy(e.message), loc?.label, e.help].filter((s): s is string => typeof s === "string" && s.length > 0).join("; ");
    return loc ? { message, ...position(text, loc.start) } : { message };
  });
}

/** Where an annotation appears (best effort: the first `@name`), for the operator's editor. */
function annotationProblem(text: string, name: string, message: string): PolicyProblem {
  const at = new RegExp(`@\\s*${name}\\b`).exec(text);
  return at ? { message, ...position(text, utf8Length(text.slice(0, at.index))) } : { message };
}

/** The canonical scope tokens of a @default_scope value, or undefined when one is not a grantable scope. */
function parseScopeList(value: string): string[] | undefined {
  const out: string[] = [];
  for (const token of value.split(" ").filter((t) => t.length > 0)) {
    const parsed = tryParseScope(token);
    // A template (`read:`) asks the server to fill in paths; it is never granted as is.
    if (!parsed || parsed.kind === "template") return undefined;
    if (!out.includes(parsed.value)) out.push(parsed.value);
  }
  return out;
}

/** Checks the annotations the engine reads; returns the problems. */
function annotationProblems(text: string, annotations: Readonly<Record<string, string>>, id: string | undefined): PolicyProblem[] {
  const found: PolicyProblem[] = [];
  const declared = annotations[ANNOTATIONS.ID];
  if (id !== undefined && declared !== undefined && declared !== id) {
    found.push(annotationProblem(text, ANNOTATIONS.ID, `@id ${JSON.stringify(declared)} differs from the policy id ${JSON.stringify(id)}`));
  }
  const depth = annotations[ANNOTATIONS.MAX_DEPTH];
  if (depth !== undefined && !MAX_DEPTH_ANNOTATION.test(depth)) {
    // A bound that does not parse must not silently become "no bound".
    found.push(annotationProblem(text, ANNOTATIONS.MAX_DEPTH, "@max_depth must be a whole number from 1 to 999999999"));
  }
  const anyPresenter = annotations[ANNOTATIONS.ANY_PRESENTER];
  if (anyPresenter !== undefined && anyPresenter !== "true") {
    // Anything but "true" reads as a wish to keep the check, which is what leaving it out does.
    found.push(annotationProblem(text, ANNOTATIONS.ANY_PRESENTER, '@any_presenter takes "true" only (leave it out to require the caller in the audience)'));
  }
  for (const name of [ANNOTATIONS.DEFAULT_SCOPE, ANNOTATIONS.NARROW_TO]) {
    const scopes = annotations[name];
    if (scopes !== undefined && parseScopeList(scopes) === undefined) {
      found.push(annotationProblem(text, name, `@${name} must be space-separated scope tokens (RFC 6749 section 3.3), no templates`));
    }
  }
  return found;
}

/** Effect and annotations of one policy text; throws TypeError when it is not exactly one valid statement. */
function metaOf(policy: PolicyText): PolicyMeta {
  // Before any cedar-wasm call: a text nesting too deeply would break the module for every engine (policy-depth.ts).
  if (policyDepth(policy.text) > MAX_POLICY_DEPTH) throw new TypeError(`policy ${JSON.stringify(policy.id)} nests too deeply`);
  const r = cedar.policyToJson(policy.text);
  if (r.type !== "success") throw new TypeError(`policy ${JSON.stringify(policy.id)} does not parse: ${r.errors.map((e) => e.message).join("; ")}`);
  const annotations = r.json.annotations ?? {};
  const problems = annotationProblems(policy.text, annotations, undefined);
  if (problems.length > 0) throw new TypeError(`policy ${JSON.stringify(policy.id)}: ${problems.map((p) => p.message).join("; ")}`);
  const depth = annotations[ANNOTATIONS.MAX_DEPTH];
  return {
    effect: r.json.effect,
    defaultScopes: parseScopeList(annotations[ANNOTATIONS.DEFAULT_SCOPE] ?? "") ?? [],
    maxDepth: depth === undefined ? 0 : Number(depth),
    anyPresenter: annotations[ANNOTATIONS.ANY_PRESENTER] === "true",
    narrowTo: parseScopeList(annotations[ANNOTATIONS.NARROW_TO] ?? "") ?? [],
    principal: entityScopeOf(r.json.principal),
    resource: entityScopeOf(r.json.resource),
    scopeReads: actionMayBe(r.json.action, ACTIONS.REQUEST_SCOPE) ? contextReadsOf(r.json) : new Set(),
  };
}

/** Why a decision request is malformed (fixed text, never the offending value), or undefined. */
function malformed(input: DecideInput): string | undefined {
  const name = (s: unknown, what: string, required: boolean): string | undefined => {
    if (typeof s !== "string") return `${what} is not a string`;
    if (required && s.length === 0) return `${what} is empty`;
    if (s.length > MAX_NAME_LENGTH) return `${what} is too long`;
    if (!isCleanName(s)) return `${what} holds a control character or broken UTF-16`;
    return undefined;
  };
  const list = (l: unknown, what: string, most = MAX_LIST_LENGTH): string | undefined => {
    if (!Array.isArray(l)) return `${what} is not a list`;
    if (l.length > most) return `${what} has more than ${most} entries`;
    for (const s of l as unknown[]) {
      const problem = name(s, `an entry of ${what}`, true);
      if (problem) return problem;
    }
    return undefined;
  };
  // Policies compare scopes as strings (`==`, `like "read:/data/*"`): one spelled otherwise than its canonical form
  // (`read:/data/../etc`, `read:/data/`, two tokens joined by a space) would match a pattern it is not under, or slip
  // past a forbid naming it, so only canonical scope tokens (libs/scopes) are decided on. Templates are never granted.
  const scopes = (l: unknown, what: string, templates: boolean, most: number): string | undefined =>
    list(l, what, most) ??
    ((l as unknown[]).every((t) => {
      const parsed = tryParseScope(t);
      return parsed !== undefined && parsed.value === t && (templates || parsed.kind !== "template");
    })
      ? undefined
      : `an entry of ${what} is not a canonical scope token`);
  const s = input.subject as DecideInput["subject"] | undefined;
  if (typeof s !== "object" || s === null) return "subject is missing";
  if (!Number.isSafeInteger(input.depth) || input.depth < 0 || input.depth > MAX_DEPTH_VALUE) return "depth is not a whole number in range";
  if (typeof input.callerInAudience !== "boolean") return "caller_in_audience is not a boolean";
  return (
    name(input.clientId, "client_id", true) ??
    name(input.audience, "audience", true) ??
    scopes(input.requestedScopes, "requested_scopes", false, MAX_DECISION_REQUESTED_SCOPES) ??
    list(input.actors, "actors") ??
    name(s.sub, "subject.sub", false) ??
    name(s.clientId, "subject.client_id", false) ??
    name(s.iss, "subject.iss", false) ??
    scopes(s.scopes, "subject.scopes", true, MAX_DECISION_SUBJECT_SCOPES) ??
    list(s.audience, "subject.audience") ??
    overBudget(input)
  );
}

/**
 * Whether the question's strings sum to more than an exchanger can send (MAX_DECISION_CHARS): the gate question
 * carries them all, and each per-scope question those its policies read, at a cost growing with their size.
 */
function overBudget(input: DecideInput): string | undefined {
  const s = input.subject;
  const total = decisionChars([input.clientId, input.audience, input.requestedScopes, input.actors, s.sub, s.clientId, s.iss, s.scopes, s.audience]);
  return total > MAX_DECISION_CHARS ? `its strings sum to more than ${MAX_DECISION_CHARS} characters` : undefined;
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function plural(ids: readonly string[]): string {
  return `${ids.length === 1 ? "policy" : "policies"} ${ids.join(", ")}`;
}

/** One Cedar answer, reduced to what a decision needs. */
interface Outcome {
  /** Cedar's decision with no evaluation error; any error makes this false. */
  allow: boolean;
  /** Cedar's determining policies: satisfied permits on allow, satisfied forbids on deny. */
  determining: string[];
  /** True when Cedar could not answer or a policy errored. */
  failed: boolean;
  /** Policies whose evaluation errored. */
  erroring: string[];
  errors: string[];
}

function deny(policyIds: string[], reason: string, errors: string[]): Decision {
  return { allow: false, policyIds, allowedScopes: [], defaultScopes: [], maxDepth: 0, reason, errors };
}

/** The answer to a malformed request (see {@link malformed}): denied before Cedar sees it. */
function malformedDeny(problem: string): Decision {
  return deny([], `malformed decision request: ${problem}`, [problem]);
}

/** An immutable, pre-parsed policy set that answers exchange questions. */
export class PolicyEngine {
  readonly #texts: ReadonlyMap<string, string>;
  readonly #meta: ReadonlyMap<string, PolicyMeta>;
  readonly #serial = ++engineSerial;
  readonly #pool: Slot[];
  readonly #pruneScopeContext: boolean;
  /** The policies that can apply to `request_scope` and read some prunable context attribute (context-reads.ts). */
  readonly #scopeReaders: readonly PolicyMeta[];
  #slot: Slot | undefined;

  /**
   * Builds an engine. Each policy should have passed {@link PolicyEngine.validatePolicy};
   * throws TypeError on a duplicate id, or a text that is not exactly one
   * parseable statement with well-formed annotations.
   */
  constructor(policies: readonly PolicyText[], options: PolicyEngineOptions = {}) {
    ensureSchema();
    this.#pool = options.whatIf ? whatIfSlots : slots;
    const basis = options.basis;
    const texts = new Map<string, string>();
    const meta = new Map<string, PolicyMeta>();
    for (const p of policies) {
      if (typeof p.id !== "string" || p.id.length === 0) throw new TypeError("a policy id must be a non-empty string");
      if (texts.has(p.id)) throw new TypeError(`duplicate policy id ${JSON.stringify(p.id)}`);
      texts.set(p.id, p.text);
      const known = basis?.holds(p) ? basis.#meta.get(p.id) : undefined;
      meta.set(p.id, known ?? metaOf(p));
    }
    this.#texts = texts;
    this.#meta = meta;
    this.#pruneScopeContext = options.pruneScopeContext ?? true;
    this.#scopeReaders = [...meta.values()].filter((m) => m.scopeReads === "all" || m.scopeReads.size > 0);
    // Parse now, so a set that does not load fails here and not at the first decision.
    this.#load();
  }

  /**
   * Parses one policy text and validates it against the schema (strict
   * mode): exactly one static permit or forbid, no templates, well-formed
   * @max_depth / @default_scope / @any_presenter, and, given `options.id`, an @id (if any)
   * equal to it. Problems carry Cedar's reason and, where known, the position.
   */
  static validatePolicy(text: string, options: { id?: string } = {}): PolicyValidation {
    if (typeof text !== "string" || text.trim().length === 0) return { ok: false, errors: [{ message: "the policy text is empty" }] };
    if (utf8Length(text) > MAX_POLICY_TEXT_BYTES) return { ok: false, errors: [{ message: `the policy text is larger than ${MAX_POLICY_TEXT_BYTES} bytes` }] };
    const control = TEXT_CONTROL.exec(text);
    if (control)
      return { ok: false, errors: [{ message: "the policy text holds a control character", ...position(text, utf8Length(text.slice(0, control.index))) }] };
    if (hasLoneSurrogate(text)) return { ok: false, errors: [{ message: "the policy text holds broken UTF-16 (an unpaired surrogate)" }] };
    const unshown = unshownAt(text);
    if (unshown !== undefined) {
      const message =
        "the policy text holds a character shown otherwise than it reads (a C1 control, a line or paragraph separator or a bidi control): write it in a string as \\u{...}";
      return { ok: false, errors: [{ message, ...position(text, utf8Length(text.slice(0, unshown))) }] };
    }
    // Checked before Cedar parses anything: Cedar's own answer to such a text is a stack overflow that leaves
    // cedar-wasm corrupt, and every later decision of this process failing.
    if (policyDepth(text) > MAX_POLICY_DEPTH) {
      return {
        ok: false,
        errors: [
          {
            message: `the policy nests too deeply (more than ${MAX_POLICY_DEPTH} levels of brackets and operators in one expression): use a set and .contains() or in [...] instead of long chains of || and ==`,
          },
        ],
      };
    }
    try {
      const parts = cedar.policySetTextToParts(text);
      if (parts.type !== "success") return { ok: false, errors: problemsOf(text, parts.errors) };
      if (parts.policy_templates.length > 0) return { ok: false, errors: [{ message: "templates (?principal, ?resource) are not supported" }] };
      if (parts.policies.length !== 1) {
        return { ok: false, errors: [{ message: `a policy holds exactly one permit or forbid statement, this text holds ${parts.policies.length}` }] };
      }
      const json = cedar.policyToJson(text);
      if (json.type !== "success") return { ok: false, errors: problemsOf(text, json.errors) };
      const errors = annotationProblems(text, json.json.annotations ?? {}, options.id);
      const v = cedar.validate({ schema: CEDAR_SCHEMA, policies: { staticPolicies: { policy: text } }, validationSettings: { mode: "strict" } });
      if (v.type !== "success") errors.push(...problemsOf(text, v.errors));
      else
        errors.push(
          ...problemsOf(
            text,
            v.validationErrors.map((e) => e.error),
          ),
        );
      return errors.length === 0 ? { ok: true } : { ok: false, errors };
    } catch (err) {
      // cedar-wasm throws (rather than answers) on input it cannot serialise.
      return { ok: false, errors: [{ message: `the policy could not be checked: ${err instanceof Error ? err.message : String(err)}` }] };
    }
  }

  /**
   * Decides `input` as this set would with `change` made (a what-if: one policy added or replaced, one left out); this
   * engine, and the slot it decides from, are untouched. Only the policies whose principal and resource scopes can match
   * the question's are parsed for it: the others are never satisfied and never evaluated, so they change nothing, and
   * parsing the whole set on every what-if made one read-only operator's Validate hold the event loop (every Decide of
   * the replica) for seconds per call once the set held a thousand policies.
   */
  whatIf(input: DecideInput, change: WhatIfChange): Decision {
    const problem = malformed(input);
    if (problem !== undefined) return malformedDeny(problem);
    const candidateMeta = change.candidate && metaOf(change.candidate);
    const principal = { type: ENTITY_TYPES.CLIENT, id: input.clientId };
    const resource = { type: ENTITY_TYPES.AUDIENCE, id: input.audience };
    return this.#changed(change, (id) => {
      const meta = id === change.candidate?.id ? candidateMeta : this.#meta.get(id);
      return !meta || (admits(meta.principal, principal) && admits(meta.resource, resource));
    }).decide(input);
  }

  /** The same set with one policy added or replaced (what-if); this engine, and the slot it decides from, are untouched. */
  withCandidate(policy: PolicyText): PolicyEngine {
    return this.#changed({ candidate: policy });
  }

  /** The same set without the policy `id` (what if it were deleted); this engine, and its slot, are untouched. */
  without(id: string): PolicyEngine {
    return this.#changed({ without: id });
  }

  /** A what-if engine over this set's texts with `change` made, keeping only the policies `kept` names. */
  #changed(change: WhatIfChange, kept: (id: string) => boolean = () => true): PolicyEngine {
    const texts = new Map(this.#texts);
    if (change.candidate) texts.set(change.candidate.id, change.candidate.text);
    if (change.without !== undefined) texts.delete(change.without);
    return new PolicyEngine(
      [...texts].filter(([id]) => kept(id)).map(([id, text]) => ({ id, text })),
      { basis: this, whatIf: true, pruneScopeContext: this.#pruneScopeContext },
    );
  }

  /** Whether this engine holds `policy`: its id, with exactly this text. */
  holds(policy: PolicyText): boolean {
    return this.#texts.get(policy.id) === policy.text;
  }

  /** Whether this engine holds a policy of this id. */
  holdsId(id: string): boolean {
    return this.#texts.has(id);
  }

  /** Policy ids, sorted. */
  ids(): string[] {
    return [...this.#texts.keys()].sort();
  }

  /** Decides one exchange: may the client exchange for the audience, and with which of the requested scopes. */
  decide(input: DecideInput): Decision {
    const problem = malformed(input);
    if (problem !== undefined) return malformedDeny(problem);

    const context: DecisionContext = {
      subject: {
        sub: input.subject.sub,
        client_id: input.subject.clientId,
        iss: input.subject.iss,
        scopes: unique(input.subject.scopes),
        audience: unique(input.subject.audience),
      },
      requested_scopes: unique(input.requestedScopes),
      depth: input.depth,
      actors: unique(input.actors),
      caller_in_audience: input.callerInAudience,
    };

    const gate = this.#authorize(ACTIONS.EXCHANGE, input, context);
    if (!gate.allow) {
      if (gate.failed) {
        // An erroring forbid is skipped by Cedar; the determining permits must not then decide.
        const forbids = gate.determining.filter((id) => this.#meta.get(id)?.effect === "forbid");
        const reason = gate.erroring.length > 0 ? `evaluation error in ${plural(gate.erroring)}; denied` : "the request could not be evaluated; denied";
        return deny(forbids, reason, gate.errors);
      }
      if (gate.determining.length > 0) return deny(gate.determining, `forbidden by ${plural(gate.determining)}`, []);
      const at = input.depth > 1 ? ` at delegation depth ${input.depth}` : "";
      return deny([], `no policy permits client ${input.clientId} to exchange for audience ${input.audience}${at}`, []);
    }

    const permits = gate.determining;
    // RFC 8693 §2.1: the presenter of a token is normally one it was issued to. A permit that simply leaves the
    // condition out must not waive that; only one that says so (@any_presenter) does.
    if (!input.callerInAudience && !permits.some((id) => this.#meta.get(id)?.anyPresenter)) {
      return deny([], `client ${input.clientId} is not in the subject token's audience, and no permit that applies has @any_presenter`, []);
    }
    let maxDepth = 0;
    for (const id of permits) {
      const d = this.#meta.get(id)?.maxDepth ?? 0;
      if (d > 0 && (maxDepth === 0 || d < maxDepth)) maxDepth = d;
    }
    if (maxDepth > 0 && input.depth > maxDepth) {
      const bounding = permits.filter((id) => this.#meta.get(id)?.maxDepth === maxDepth);
      // maxDepth on a deny says the depth was what was refused: the exchanger answers that as the chain's fault.
      return { ...deny(bounding, `delegation depth ${input.depth} exceeds max_depth ${maxDepth} of ${plural(bounding)}`, []), maxDepth };
    }

    const errors: string[] = [];
    const verdicts = new Map<string, boolean>();
    const scopeContext = this.#scopeContext(input, context);
    const allowedScope = (scope: string): boolean => {
      let ok = verdicts.get(scope);
      if (ok === undefined) {
        const r = this.#authorize(ACTIONS.REQUEST_SCOPE, input, { ...scopeContext, scope });
        errors.push(...r.errors.map((e) => `scope ${scope}: ${e}`));
        ok = r.allow;
        verdicts.set(scope, ok);
      }
      return ok;
    };
    // A scope the policy does not allow as asked may still cover narrower ones it does (@narrow_to): those are the
    // meet of the request and the allowance, as the scope arithmetic defines it.
    const candidates = unique(permits.flatMap((id) => this.#meta.get(id)?.narrowTo ?? []));
    const allowedScopes = unique(
      unique(input.requestedScopes).flatMap((asked) =>
        allowedScope(asked) ? [asked] : candidates.filter((c) => c !== asked && covers(asked, c) && allowedScope(c)),
      ),
    );
    const defaultScopes = unique(permits.flatMap((id) => this.#meta.get(id)?.defaultScopes ?? [])).filter(allowedScope);

    return { allow: true, policyIds: permits, allowedScopes, defaultScopes, maxDepth, reason: `permitted by ${plural(permits)}`, errors };
  }

  /**
   * The context of this question's `request_scope` questions: the attributes that no policy able to apply to its
   * client and audience reads go empty. One that cannot apply is never evaluated (Cedar checks a policy's scope before
   * its conditions), and the set of those that can is decided as {@link PolicyEngine.whatIf} decides it.
   */
  #scopeContext(input: DecideInput, context: DecisionContext): DecisionContext {
    if (!this.#pruneScopeContext) return context;
    const principal = { type: ENTITY_TYPES.CLIENT, id: input.clientId };
    const resource = { type: ENTITY_TYPES.AUDIENCE, id: input.audience };
    const applying = this.#scopeReaders.filter((m) => admits(m.principal, principal) && admits(m.resource, resource));
    return prunedContext(context, unionReads(applying.map((m) => m.scopeReads)));
  }

  /** One Cedar question against this engine's preparsed set; never throws. */
  #authorize(action: ActionId, input: DecideInput, context: Context): Outcome {
    let answer: AuthorizationAnswer;
    try {
      answer = cedar.statefulIsAuthorized({
        principal: { type: ENTITY_TYPES.CLIENT, id: input.clientId },
        action: { type: "Action", id: action },
        resource: { type: ENTITY_TYPES.AUDIENCE, id: input.audience },
        context,
        entities: [],
        preparsedPolicySetId: this.#load(),
        preparsedSchemaName: SCHEMA_NAME,
        // The context must have exactly the schema's shape: a missing or extra attribute is refused, not guessed.
        validateRequest: true,
      });
    } catch (err) {
      return { allow: false, determining: [], failed: true, erroring: [], errors: [err instanceof Error ? err.message : String(err)] };
    }
    if (answer.type !== "success") return { allow: false, determining: [], failed: true, erroring: [], errors: answer.errors.map((e) => e.message) };
    const { decision, diagnostics } = answer.response;
    // Sorted: cedar-wasm lists them in an order of its own that differs between loads of one set, and the same question
    // should get the same answer from every replica.
    const errors = diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`).sort();
    const determining = [...diagnostics.reason].sort();
    const erroring = unique(diagnostics.errors.map((e) => e.policyId)).sort();
    return { allow: decision === "allow" && errors.length === 0, determining, failed: errors.length > 0, erroring, errors };
  }

  /** The name of a preparsed slot holding this engine's set, (re)loading it when another engine took it. */
  #load(): string {
    ensureSchema();
    const held = this.#slot;
    if (held && held.owner === this.#serial) {
      held.lastUsed = ++clock;
      return held.name;
    }
    const slot = this.#pool.reduce((a, b) => (b.lastUsed < a.lastUsed ? b : a));
    const r = cedar.preparsePolicySet(slot.name, { staticPolicies: Object.fromEntries(this.#texts) });
    if (r.type !== "success") throw new TypeError(`the policy set does not parse: ${r.errors.map((e) => e.message).join("; ")}`);
    slot.owner = this.#serial;
    slot.lastUsed = ++clock;
    this.#slot = slot;
    return slot.name;
  }
}
