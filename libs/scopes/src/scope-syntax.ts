/**
 * Scope syntax: turning a `scope` parameter or claim into a canonical,
 * deduplicated list, and back.
 *
 * Grammar is RFC 6749 §3.3 (`scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`,
 * case-sensitive), so spaces, `"`, `\`, control characters and anything
 * outside printable ASCII are refused before any other rule runs. On top of
 * it, a token of the form `name:/path` (WLCG / SciTokens style) is a
 * structured scope whose path is compared by segments; its path must have a
 * single spelling, so `.`/`..` and empty segments, `%` escapes, `?` and `#`
 * are refused rather than normalised (a resource server that decodes or
 * resolves them would act on a path we never compared). The one rewrite is a
 * single trailing `/` (`read:/data/` → `read:/data`): it names the same
 * directory, and issued tokens then carry one spelling only. WLCG's group
 * scopes (`wlcg.groups:/cms`) are spelled so too but name no place: they
 * are compared by equality only.
 *
 * Malformed input is `invalid_scope` (RFC 6749 §5.2 lists "malformed" under
 * it); descriptions are fixed strings and never echo the input.
 */
import { OAuthError } from "@sts/errors";

/** Longest single scope token accepted, in characters. */
export const MAX_SCOPE_LENGTH = 256;
/** Most distinct scopes in one request or token. */
export const MAX_SCOPES = 64;
/**
 * Longest scope parameter accepted (for an array: its entries joined by one
 * space). Checked before splitting, so a hostile parameter costs nothing.
 */
export const MAX_SCOPE_STRING_LENGTH = 8192;

/** A scope token after parsing; `value` is its canonical spelling. */
export type ParsedScope =
  /** Compared by equality only: `openid`, `storage.read`, `urn:x:y`, `https://h/p`, `wlcg.groups:/cms`. */
  | { readonly kind: "plain"; readonly value: string }
  /** `name:/seg/seg`; `path` is empty for the root `name:/`. */
  | { readonly kind: "structured"; readonly name: string; readonly path: readonly string[]; readonly value: string }
  /** `name:` with no path: a request for the server to fill in paths; never granted as is. */
  | { readonly kind: "template"; readonly name: string; readonly value: string };

// RFC 6749 §3.3 scope-token.
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
// Name part of a structured scope: `read`, `storage.read`, `compute.create`.
const SCOPE_NAME = /^[A-Za-z][A-Za-z0-9._-]*$/;

/**
 * Names whose `:/…` part names a group, not a place (WLCG Common JWT Profiles §3.1, §3.3): `wlcg.groups:/cms/uscms`
 * asks for membership of a subgroup that membership of `/cms` does not imply, and the capability set of `/dune/pro`
 * (production) holds more than that of `/dune`. Down-scoping them by path would hand out what was never granted, so
 * they keep the path's one spelling (the policy engine matches them as strings) but are plain: equal only to themselves.
 */
const GROUP_NAMES: ReadonlySet<string> = new Set(["wlcg.groups", "wlcg.capabilityset"]);

/** Public reasons, all fixed text: the token itself is never echoed (SECURITY.md). */
const REASON = {
  empty: "scope token is empty",
  tooLong: "scope token is too long",
  charset: "scope token has a character RFC 6749 section 3.3 does not allow",
  encoded: "scope path must not contain percent-encoding",
  queryOrFragment: "scope path must not contain ? or #",
  pathParameter: "scope path must not contain ; (path parameters)",
  emptySegment: "scope path has an empty segment",
  dotSegment: "scope path has a . or .. segment",
  paramType: "scope must be a string or an array of strings",
  paramTooLong: "scope parameter is too long",
  tooMany: "too many scopes",
} as const;

type Reason = (typeof REASON)[keyof typeof REASON];

/** Parses without throwing: the parsed scope, or the public reason it is refused. */
function classify(token: string): ParsedScope | Reason {
  if (token.length === 0) return REASON.empty;
  if (token.length > MAX_SCOPE_LENGTH) return REASON.tooLong;
  if (!SCOPE_TOKEN.test(token)) return REASON.charset;

  const colon = token.indexOf(":");
  if (colon <= 0) return { kind: "plain", value: token };
  const name = token.slice(0, colon);
  if (!SCOPE_NAME.test(name)) return { kind: "plain", value: token };
  const rest = token.slice(colon + 1);
  if (rest.length === 0) return { kind: "template", name, value: token };
  // `urn:x:y`, `read:data` (no leading slash) and `https://host/p` (RFC 3986
  // §3.2 authority) are opaque: equality only, no path arithmetic.
  if (rest[0] !== "/" || rest[1] === "/") return { kind: "plain", value: token };

  if (rest.includes("%")) return REASON.encoded;
  if (rest.includes("?") || rest.includes("#")) return REASON.queryOrFragment;
  // Servers that strip `;` parameters before resolving dot segments (Tomcat, Spring) read `/data/..;/etc` as `/etc`:
  // a path must have one reading for every resource server.
  if (rest.includes(";")) return REASON.pathParameter;
  const path: string[] = [];
  if (rest !== "/") {
    const body = rest.endsWith("/") ? rest.slice(1, -1) : rest.slice(1);
    for (const segment of body.split("/")) {
      if (segment === "") return REASON.emptySegment;
      if (segment === "." || segment === "..") return REASON.dotSegment;
      path.push(segment);
    }
  }
  const value = `${name}:/${path.join("/")}`;
  return GROUP_NAMES.has(name) ? { kind: "plain", value } : { kind: "structured", name, path, value };
}

const refuse = (reason: Reason): OAuthError => new OAuthError("invalid_scope", reason);

/** Parses one scope token; throws `invalid_scope` (OAuthError) when it is malformed. */
export function parseScope(token: string): ParsedScope {
  const parsed = typeof token === "string" ? classify(token) : REASON.paramType;
  if (typeof parsed === "string") throw refuse(parsed);
  return parsed;
}

/** Parses one scope token, or `undefined` when it is malformed; never throws. */
export function tryParseScope(token: unknown): ParsedScope | undefined {
  if (typeof token !== "string") return undefined;
  const parsed = classify(token);
  return typeof parsed === "string" ? undefined : parsed;
}

/** True when `token` is a well-formed scope token (of any kind). */
export function isValidScope(token: unknown): boolean {
  return tryParseScope(token) !== undefined;
}

/** True when `token` is a well-formed `name:` template request (e.g. `read:`), which callers must expand before granting. */
export function isTemplateRequest(token: unknown): boolean {
  return tryParseScope(token)?.kind === "template";
}

/** Splits and checks a scope parameter; returns canonical tokens or the reason to refuse. */
function collect(input: unknown): string[] | Reason {
  if (input === undefined || input === null) return [];
  let tokens: readonly unknown[];
  if (typeof input === "string") {
    if (input.length > MAX_SCOPE_STRING_LENGTH) return REASON.paramTooLong;
    // RFC 6749 §3.3 says single spaces; runs of spaces are tolerated because
    // common clients emit them and they cannot change which tokens are meant.
    tokens = input.split(" ").filter((t) => t.length > 0);
  } else if (Array.isArray(input)) {
    // RFC 9068 §2.2.3.1 tokens may carry scope as an array; same budget as the string form.
    let joined = -1;
    for (const t of input as readonly unknown[]) {
      if (typeof t !== "string") return REASON.paramType;
      joined += t.length + 1;
      if (joined > MAX_SCOPE_STRING_LENGTH) return REASON.paramTooLong;
    }
    tokens = input as readonly unknown[];
  } else {
    return REASON.paramType;
  }

  const out: string[] = [];
  const seen = new Set<string>();
  for (const t of tokens) {
    const parsed = classify(t as string);
    if (typeof parsed === "string") return parsed;
    if (seen.has(parsed.value)) continue;
    seen.add(parsed.value);
    out.push(parsed.value);
    if (out.length > MAX_SCOPES) return REASON.tooMany;
  }
  return out;
}

/**
 * Parses a `scope` parameter or claim (space-delimited string, or an array
 * of tokens) into canonical tokens, deduplicated in first-seen order.
 * `undefined`, `null` and `""` give `[]`. Throws `invalid_scope` on any
 * malformed token or when a limit is exceeded.
 */
export function parseScopes(input: string | readonly string[] | undefined | null): string[] {
  const result = collect(input);
  if (typeof result === "string") throw refuse(result);
  return result;
}

/**
 * Like {@link parseScopes} but returns `undefined` instead of throwing, for
 * callers whose error code depends on where the scope came from (a bad scope
 * claim in a subject_token is `invalid_request`, RFC 8693 §2.2.2).
 */
export function tryParseScopes(input: unknown): string[] | undefined {
  const result = collect(input);
  return typeof result === "string" ? undefined : result;
}

/**
 * The space-delimited form (RFC 6749 §3.3) of scope tokens. Throws TypeError
 * on a token that is not a scope-token: joining one holding a space would
 * smuggle extra scopes into the output, so it is a bug in the caller.
 */
export function formatScopes(scopes: readonly string[]): string {
  for (const s of scopes) {
    if (typeof s !== "string" || !SCOPE_TOKEN.test(s)) throw new TypeError("formatScopes: not an RFC 6749 scope-token");
  }
  return scopes.join(" ");
}
