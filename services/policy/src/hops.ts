/**
 * The config file's simple hop declarations, compiled into Cedar policies an
 * operator can read, list and edit through the policy service. Each hop
 * gives two permits: `exchange` (may `from` exchange for `to` at all) and
 * `request_scope` (which scopes it may obtain there).
 *
 * Client ids and audiences are arbitrary strings (`admin:test/vo_1`, URLs),
 * so nothing from the config is pasted into policy text unescaped: every
 * value goes through {@link cedarString}, which leaves no way to close the
 * literal early, and policy ids encode them so two hops can never share one.
 */
import { createHash } from "node:crypto";
import { isShownAsWritten } from "@sts/errors";
import { isWithin, tryParseScope } from "@sts/scopes";
import type { ParsedScope } from "@sts/scopes";
import { isCleanName } from "@sts/scopes";
import { ACTIONS, ANNOTATIONS, ENTITY_TYPES, MAX_NAME_LENGTH, hasLoneSurrogate } from "./schema.js";

/** A hop as declared in the config file (`policy.hops`). */
export interface HopDeclaration {
  /** Calling client id. */
  from: string;
  /** Target audience. */
  to: string;
  /** Scopes the caller may obtain for the target; a structured `name:/path` also allows any path below it. */
  scopes: readonly string[];
  /** Scopes granted when the request names none; defaults to `scopes`; must be within `scopes`. */
  default_scopes?: readonly string[];
  /** Largest delegation chain depth for this hop. */
  max_depth?: number;
  /** Whether the caller must be in the subject token's audience (RFC 8693 section 2.1); default true. */
  require_caller_in_audience?: boolean;
}

/** A compiled policy, ready for the policy store. */
export interface CompiledPolicy {
  id: string;
  text: string;
  description: string;
}

/** Which of a hop's two policies. */
export type HopPolicyKind = "exchange" | "scopes";

/** Longest policy id produced; the policy API accepts ids of up to 200 characters. */
const MAX_ID_LENGTH = 200;
// Characters kept as they are in policy ids; everything else, `/` and `@` included, becomes @XX.
const ID_SAFE = /^[A-Za-z0-9._:-]$/;

/**
 * A Cedar string literal holding exactly `value`. `"` and `\` are escaped and
 * anything outside printable ASCII is written as `\u{…}`, so no value can end
 * the literal and continue as policy text, and no invisible or
 * bidi-reordering character can make the text read differently than it
 * evaluates. Throws TypeError on unpaired UTF-16 surrogates (no Cedar string
 * can hold them).
 */
export function cedarString(value: string): string {
  return `"${escapeChars(value, false)}"`;
}

function escapeChars(value: string, pattern: boolean): string {
  if (hasLoneSurrogate(value)) throw new TypeError("cedarString: unpaired UTF-16 surrogate");
  let out = "";
  for (const ch of value) {
    const code = ch.codePointAt(0) as number;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    // In a `like` pattern a bare `*` is a wildcard; a literal one is `\*`.
    else if (pattern && ch === "*") out += "\\*";
    else if (code >= 0x20 && code <= 0x7e) out += ch;
    else out += `\\u{${code.toString(16)}}`;
  }
  return out;
}

/**
 * `value` quoted for a description: JSON's quoting, with every character that is not shown as written (a line or
 * paragraph separator, a bidi control) as its `\uXXXX` escape. A client id or audience may hold them (only C0 and C1
 * controls are refused), and a description is printed as is on the policy's line by `stsctl policy list`, where they
 * would make the line read otherwise than it is (Trojan Source, CVE-2021-42574): a Put refuses such a description.
 */
function quoted(value: string): string {
  let out = "";
  // JSON.stringify has escaped `\`, so an escape added here cannot be confused with one in the value.
  for (const ch of JSON.stringify(value)) out += isShownAsWritten(ch) ? ch : `\\u${(ch.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`;
  return out;
}

/** A `like` pattern literal: `prefix` taken literally, followed by the wildcard. */
function likePrefix(prefix: string): string {
  return `"${escapeChars(prefix, true)}*"`;
}

/** One id component: readable for ordinary names, injective for all (`/` and `@` are escaped as @XX). */
function idComponent(value: string): string {
  let out = "";
  for (const ch of value) {
    if (ID_SAFE.test(ch)) out += ch;
    else for (const byte of new TextEncoder().encode(ch)) out += `@${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * The id of one of a hop's policies: `hop/<from>/<to>/<kind>`, with `/`, `@`
 * and other characters outside `A-Za-z0-9._:-` written `@XX` (UTF-8 bytes),
 * so `from` = `a/b`, `to` = `c` and `from` = `a`, `to` = `b/c` get distinct
 * ids. An id that would exceed 200 characters becomes
 * `hop/sha256-<digest>/<kind>` (one component, so it cannot collide with the
 * readable form).
 */
export function hopPolicyId(from: string, to: string, kind: HopPolicyKind): string {
  const readable = `hop/${idComponent(from)}/${idComponent(to)}/${kind}`;
  if (readable.length <= MAX_ID_LENGTH) return readable;
  const digest = createHash("sha256").update(from).update("\u0000").update(to).digest("hex").slice(0, 40);
  return `hop/sha256-${digest}/${kind}`;
}

function checkName(value: unknown, what: string): string {
  if (typeof value !== "string" || value.length === 0) throw new TypeError(`hop ${what} must be a non-empty string`);
  if (value.length > MAX_NAME_LENGTH) throw new TypeError(`hop ${what} is longer than ${MAX_NAME_LENGTH} characters`);
  // The engine denies requests holding these, so a hop naming one could never apply.
  if (!isCleanName(value)) throw new TypeError(`hop ${what} holds a control character or broken UTF-16`);
  return value;
}

type Grantable = Exclude<ParsedScope, { kind: "template" }>;

function checkScopes(values: unknown, what: string, hop: string): Grantable[] {
  if (!Array.isArray(values)) throw new TypeError(`${hop}: ${what} must be a list of scopes`);
  const out: Grantable[] = [];
  for (const v of values as unknown[]) {
    const parsed = tryParseScope(v);
    if (!parsed) throw new TypeError(`${hop}: ${what} holds a malformed scope`);
    // A template (`read:`) is a request for the server to fill in paths, never something granted.
    if (parsed.kind === "template") throw new TypeError(`${hop}: ${what} holds a template scope (name:), which cannot be granted`);
    if (!out.some((s) => s.value === parsed.value)) out.push(parsed);
  }
  return out;
}

/** Disjuncts joined in one chain at most; past that they are grouped (see {@link disjunction}). */
const CHAIN_LENGTH = 4;

/** The condition allowing one structured scope: its path itself or anything below it by whole segments. */
function structuredCondition(s: Extract<Grantable, { kind: "structured" }>): string {
  // `read:/data/cern` allows `read:/data/cern/run7` but not `read:/data/cernX` (the pattern keeps the `/`).
  const under = s.value.endsWith("/") ? s.value : `${s.value}/`;
  const same = `context.scope == ${cedarString(s.value)}`;
  if (s.path.length > 0) return `${same} || context.scope like ${likePrefix(under)}`;
  // The root `name:/` covers every `name:/path`, but not `name://host/…`: that is a URL (RFC 3986 authority), a
  // plain scope matching only itself (libs/scopes), which the bare pattern `name:/*` would let through.
  return `${same} || (context.scope like ${likePrefix(under)} && !(context.scope like ${likePrefix(`${under}/`)}))`;
}

/**
 * `parts` joined with `||`, one per line. A long list is grouped in parentheses, a few per group, so the expression
 * Cedar builds stays shallow (policy-depth.ts): one chain of a few hundred `||` overflows cedar-wasm's stack, and
 * with it the whole process's decisions.
 */
function disjunction(parts: readonly string[], indent: string): string {
  if (parts.length <= 2 * CHAIN_LENGTH) return parts.join(` ||\n${indent}`);
  const size = Math.ceil(parts.length / CHAIN_LENGTH);
  const groups: string[] = [];
  // Not indented further: a hop's policy may have 64 KiB, and a deep one would spend them on spaces.
  for (let i = 0; i < parts.length; i += size) groups.push(`(${disjunction(parts.slice(i, i + size), indent)})`);
  return groups.join(` ||\n${indent}`);
}

/** The Cedar condition on `context.scope` for the allowed scopes. */
function scopeCondition(scopes: readonly Grantable[]): string {
  const plain = scopes.filter((s) => s.kind === "plain");
  const parts: string[] = [];
  if (plain.length > 0) parts.push(`[${plain.map((s) => cedarString(s.value)).join(", ")}].contains(context.scope)`);
  for (const s of scopes) if (s.kind === "structured") parts.push(structuredCondition(s));
  return disjunction(parts, "  ");
}

/**
 * Compiles hops into Cedar policies. Throws TypeError on a malformed hop
 * (bad scope, default scopes not within `scopes`, bad max_depth, control
 * characters, the same from → to twice): a hop the operator cannot have
 * meant is refused at start-up rather than compiled into something else.
 */
export function compileHops(hops: readonly HopDeclaration[]): CompiledPolicy[] {
  const seen = new Set<string>();
  const out: CompiledPolicy[] = [];
  for (const hop of hops) {
    const from = checkName(hop.from, "from");
    const to = checkName(hop.to, "to");
    const label = `hop ${JSON.stringify(from)} → ${JSON.stringify(to)}`;
    const exchangeId = hopPolicyId(from, to, "exchange");
    if (seen.has(exchangeId)) throw new TypeError(`${label} is declared twice`);
    seen.add(exchangeId);

    const scopes = checkScopes(hop.scopes, "scopes", label);
    const defaults = hop.default_scopes === undefined ? scopes : checkScopes(hop.default_scopes, "default_scopes", label);
    if (
      !isWithin(
        defaults.map((s) => s.value),
        scopes.map((s) => s.value),
      )
    ) {
      throw new TypeError(`${label}: default_scopes must be within scopes`);
    }
    const maxDepth = hop.max_depth;
    if (maxDepth !== undefined && (!Number.isSafeInteger(maxDepth) || maxDepth < 1 || maxDepth > 999_999_999)) {
      throw new TypeError(`${label}: max_depth must be a whole number from 1 to 999999999`);
    }
    if (hop.require_caller_in_audience !== undefined && typeof hop.require_caller_in_audience !== "boolean") {
      throw new TypeError(`${label}: require_caller_in_audience must be a boolean`);
    }
    const presenter = hop.require_caller_in_audience !== false;
    const structured = scopes.filter((s) => s.kind === "structured");
    const head = (action: string): string =>
      `permit (\n  principal == ${ENTITY_TYPES.CLIENT}::${cedarString(from)},\n  action == Action::${cedarString(action)},\n  resource == ${ENTITY_TYPES.AUDIENCE}::${cedarString(to)}\n)`;

    const annotations = [
      `@${ANNOTATIONS.ID}(${cedarString(exchangeId)})`,
      ...(defaults.length > 0 ? [`@${ANNOTATIONS.DEFAULT_SCOPE}(${cedarString(defaults.map((s) => s.value).join(" "))})`] : []),
      ...(maxDepth !== undefined ? [`@${ANNOTATIONS.MAX_DEPTH}(${cedarString(String(maxDepth))})`] : []),
      // A request for a broader path than the hop's is narrowed to the hop's (the meet), not refused.
      ...(structured.length > 0 ? [`@${ANNOTATIONS.NARROW_TO}(${cedarString(structured.map((s) => s.value).join(" "))})`] : []),
      ...(presenter ? [] : [`@${ANNOTATIONS.ANY_PRESENTER}("true")`]),
    ];
    const conditions = [
      // RFC 8693 section 2.1: the party presenting a token is normally one it was issued to.
      ...(presenter ? ["when { context.caller_in_audience }"] : []),
    ];
    const facts = [
      `scopes: ${scopes.map((s) => s.value).join(" ") || "(none)"}`,
      `default scopes: ${defaults.map((s) => s.value).join(" ") || "(none)"}`,
      ...(maxDepth !== undefined ? [`max depth ${maxDepth}`] : []),
      presenter ? "the caller must be in the subject token's audience" : "the caller need not be in the subject token's audience",
    ];
    out.push({
      id: exchangeId,
      text: [...annotations, head(ACTIONS.EXCHANGE), ...conditions].join("\n") + ";",
      description: `Config hop: client ${quoted(from)} may exchange tokens for audience ${quoted(to)} (${facts.join("; ")})`,
    });

    // With no scopes there is nothing to permit; request_scope stays denied by default.
    if (scopes.length === 0) continue;
    const scopesId = hopPolicyId(from, to, "scopes");
    out.push({
      id: scopesId,
      text: `@${ANNOTATIONS.ID}(${cedarString(scopesId)})\n${head(ACTIONS.REQUEST_SCOPE)}\nwhen {\n  ${scopeCondition(scopes)}\n};`,
      description: `Config hop: scopes client ${quoted(from)} may obtain for audience ${quoted(to)}: ${scopes.map((s) => s.value).join(" ")}`,
    });
  }
  return out;
}
