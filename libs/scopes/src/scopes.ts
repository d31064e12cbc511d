/**
 * Scope arithmetic, in one pure module. Two kinds of scope:
 * - plain (`openid`, `a`, `storage.read`): equal or not;
 * - structured `name:/path` (WLCG/SciTokens style): `read:/data/cern/run7`
 *   is a down-scope of `read:/data/cern`, by path segments, never by string
 *   prefix (`/data/cernX` is not under `/data/cern`).
 * `name:` with no path (`read:`) is a template request, expanded elsewhere.
 * Paths with `.`/`..` segments, empty segments, `%`, `\` or control
 * characters are refused outright rather than normalised, so no two
 * spellings of one path can exist.
 */
import { OAuthError } from "@sts/errors";

/** Longest scope token accepted. */
export const MAX_SCOPE_LENGTH = 256;
/** Most scopes in one request or token. */
export const MAX_SCOPES = 64;

/** A parsed scope. */
export type ParsedScope =
  | { kind: "plain"; value: string }
  | { kind: "structured"; name: string; path: readonly string[]; value: string }
  | { kind: "template"; name: string; value: string };

// RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const STRUCTURED = /^([A-Za-z][A-Za-z0-9._-]*):(\/.*)?$/;

const bad = (description: string): OAuthError => new OAuthError("invalid_scope", description);

/** Parses one scope token; throws invalid_scope on a malformed or tricky one. */
export function parseScope(token: string): ParsedScope {
  if (token.length === 0 || token.length > MAX_SCOPE_LENGTH) throw bad("scope token is empty or too long");
  if (!SCOPE_TOKEN.test(token)) throw bad("scope contains characters RFC 6749 does not allow");
  const m = STRUCTURED.exec(token);
  if (!m) {
    // `name:` alone is a template request; `urn:x:y` and `https://...` are plain.
    const t = /^([A-Za-z][A-Za-z0-9._-]*):$/.exec(token);
    return t ? { kind: "template", name: t[1] as string, value: token } : { kind: "plain", value: token };
  }
  const name = m[1] as string;
  const rawPath = m[2];
  if (rawPath === undefined) return { kind: "template", name, value: token };
  if (rawPath.includes("%") || rawPath.includes("\\")) throw bad("scope path must not be encoded or use backslashes");
  if (rawPath === "/") return { kind: "structured", name, path: [], value: token };
  const segments = rawPath.slice(1).split("/");
  for (const s of segments) {
    if (s === "" || s === "." || s === "..") throw bad("scope path has an empty, . or .. segment");
  }
  return { kind: "structured", name, path: segments, value: token };
}

/** Parses a space-delimited scope string (or an array, as JWTs may carry), deduplicated in order. */
export function parseScopes(input: string | readonly string[] | undefined | null): string[] {
  if (input === undefined || input === null) return [];
  const tokens = typeof input === "string" ? input.split(" ").filter((t) => t.length > 0) : [...input];
  if (typeof input === "string" && input.length > MAX_SCOPES * (MAX_SCOPE_LENGTH + 1)) throw bad("scope is too long");
  const out: string[] = [];
  const seen = new Set<string>();
  for (const t of tokens) {
    if (typeof t !== "string") throw bad("scope must be strings");
    parseScope(t);
    if (!seen.has(t)) {
      seen.add(t);
      out.push(t);
    }
  }
  if (out.length > MAX_SCOPES) throw bad("too many scopes");
  return out;
}

/** Space-delimited form. */
export function formatScopes(scopes: readonly string[]): string {
  return scopes.join(" ");
}

function isUnder(path: readonly string[], base: readonly string[]): boolean {
  if (path.length < base.length) return false;
  for (let i = 0; i < base.length; i++) if (path[i] !== base[i]) return false;
  return true;
}

/** True when `requested` is `granted` or a down-scope of it. */
export function covers(granted: string, requested: string): boolean {
  if (granted === requested) return true;
  const g = parseScope(granted);
  const r = parseScope(requested);
  return g.kind === "structured" && r.kind === "structured" && g.name === r.name && isUnder(r.path, g.path);
}

/**
 * requested ∩ allowed (the meet): a requested scope covered by an allowed one
 * is kept; a requested structured scope broader than allowed ones yields
 * those narrower allowed scopes. The result is covered by both inputs.
 */
export function intersectScopes(requested: readonly string[], allowed: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (s: string): void => {
    if (!seen.has(s)) {
      seen.add(s);
      out.push(s);
    }
  };
  for (const r of requested) {
    if (allowed.some((a) => covers(a, r))) {
      add(r);
      continue;
    }
    for (const a of allowed) if (covers(r, a)) add(a);
  }
  // Drop entries covered by another entry of the result: `read:/a` and `read:/a/b` → `read:/a`.
  return out.filter((s) => !out.some((o) => o !== s && covers(o, s)));
}

/** True when every scope is covered by some scope of `bound`. */
export function isWithin(scopes: readonly string[], bound: readonly string[]): boolean {
  return scopes.every((s) => bound.some((b) => covers(b, s)));
}

/** True when `name:` template requests are present. */
export function isTemplateRequest(token: string): boolean {
  return parseScope(token).kind === "template";
}
