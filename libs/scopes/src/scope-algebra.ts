/**
 * Scope arithmetic: which scope covers which, and the meet of two scope
 * sets. Used for every "never wider than" rule: client_credentials
 * (requested ∩ client's allowed) and token exchange (requested ∩ subject
 * token ∩ policy allowance, ARCHITECTURE.md exchange rule 2).
 *
 * Plain scopes cover only themselves (WLCG's group scopes among them:
 * `wlcg.groups:/cms` names a group, and never yields `/cms/uscms`). A
 * structured scope `name:/a/b` covers the same name at `/a/b` or any path
 * below it, by whole segments: `read:/data/cernX` is not under
 * `read:/data/cern`. Template requests
 * (`read:`) and malformed tokens cover nothing and are covered by nothing,
 * not even themselves, so they can never be granted by accident; callers
 * expand templates and reject malformed input before this point.
 */
import type { ParsedScope } from "./scope-syntax.js";
import { tryParseScope } from "./scope-syntax.js";

type Grantable = Exclude<ParsedScope, { kind: "template" }>;

function grantable(token: string): Grantable | undefined {
  const parsed = tryParseScope(token);
  return parsed === undefined || parsed.kind === "template" ? undefined : parsed;
}

function parseAll(tokens: readonly string[]): Grantable[] {
  const out: Grantable[] = [];
  for (const t of tokens) {
    const p = grantable(t);
    if (p !== undefined) out.push(p);
  }
  return out;
}

function coversParsed(granted: Grantable, requested: Grantable): boolean {
  if (granted.kind === "plain" || requested.kind === "plain") return granted.kind === requested.kind && granted.value === requested.value;
  if (granted.name !== requested.name || requested.path.length < granted.path.length) return false;
  // Segment by segment, never a string prefix: `/data/cernX` is not under `/data/cern`.
  for (let i = 0; i < granted.path.length; i++) if (granted.path[i] !== requested.path[i]) return false;
  return true;
}

/**
 * True when holding `granted` entitles one to `requested`: the same scope,
 * or a structured scope of the same name at a path segment-wise at or below
 * `granted`'s (`read:/` covers every `read:` path). False when either is
 * malformed or a template request.
 */
export function covers(granted: string, requested: string): boolean {
  const g = grantable(granted);
  const r = grantable(requested);
  return g !== undefined && r !== undefined && coversParsed(g, r);
}

/**
 * True when every scope of `scopes` is covered by some scope of `bound`
 * (e.g. "never wider than the subject token"). An empty `scopes` is within
 * anything; a malformed or template entry is within nothing.
 */
export function isWithin(scopes: readonly string[], bound: readonly string[]): boolean {
  const b = parseAll(bound);
  return scopes.every((s) => {
    const p = grantable(s);
    return p !== undefined && b.some((g) => coversParsed(g, p));
  });
}

/**
 * The meet of `requested` and `allowed`: every scope that both sides cover,
 * as a short canonical list. A requested scope covered by an allowed one is
 * kept; a requested structured scope broader than some allowed ones
 * (requested `read:/data`, allowed `read:/data/cern`) yields those narrower
 * allowed scopes instead. Entries covered by another entry are dropped.
 * Order: requested order, narrower substitutes in allowed order at the place
 * of the scope they replace. Malformed and template entries contribute
 * nothing. The result is within both inputs, and anything within both
 * inputs is within the result.
 */
export function intersectScopes(requested: readonly string[], allowed: readonly string[]): string[] {
  const bound = parseAll(allowed);
  const picked: Grantable[] = [];
  const seen = new Set<string>();
  const pick = (s: Grantable): void => {
    if (seen.has(s.value)) return;
    seen.add(s.value);
    picked.push(s);
  };
  for (const r of parseAll(requested)) {
    if (bound.some((a) => coversParsed(a, r))) {
      pick(r);
      continue;
    }
    for (const a of bound) if (coversParsed(r, a)) pick(a);
  }
  return minimal(picked);
}

/** Drops entries covered by another (distinct) entry; entries are unique. */
function minimal(scopes: readonly Grantable[]): string[] {
  return scopes.filter((s) => !scopes.some((o) => o !== s && coversParsed(o, s))).map((s) => s.value);
}

/**
 * The same scopes as a set: order and duplicates ignored, trailing-slash
 * spellings equal. Tells whether the granted scope differs from the requested
 * one, in which case RFC 6749 §5.1 requires `scope` in the response.
 * Malformed entries compare by their raw text.
 */
export function equalScopeSets(a: readonly string[], b: readonly string[]): boolean {
  const canonical = (list: readonly string[]): Set<string> => new Set(list.map((t) => tryParseScope(t)?.value ?? t));
  const sa = canonical(a);
  const sb = canonical(b);
  if (sa.size !== sb.size) return false;
  for (const s of sa) if (!sb.has(s)) return false;
  return true;
}
