/**
 * What a log line may not carry, found by what a field is called rather than
 * by where it sits: pino's path redaction matches exact, case-sensitive paths
 * to a fixed depth, so `headers.Authorization`, a `logout_token`, or a secret
 * four levels into an error's properties went out as they were. Every field,
 * at any depth and in any case or spelling (`client_secret`, `clientSecret`,
 * `Proxy-Authorization`), whose name ends in one of the words below is
 * replaced; errors are serialized first (pino's own serializer) so their
 * properties are searched too. A compact JWS left in any string value
 * (an error message quoting a header) is cut out as well.
 */
import { stdSerializers } from "pino";

/** What a redacted value is replaced with. */
export const CENSOR = "[redacted]";

/**
 * Field names (lowercased, `-` and `_` dropped) that hold a credential: every `*_token` (CONVENTIONS: access, refresh,
 * id, subject, actor, logout tokens), secrets, passwords, private keys, assertions, Authorization fields, cookies.
 */
const SENSITIVE_NAME = /(?:token|secret|password|privatekey|assertion|authorization|cookie)$/;

/** A compact JWS or the first three parts of a JWE: a base64url JSON header (`{"` is `eyJ`), a payload, a signature. */
const COMPACT_JWT = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

/** Whether a field of this name holds a credential. */
export function isSensitiveName(name: string): boolean {
  return SENSITIVE_NAME.test(name.toLowerCase().replace(/[-_]/g, ""));
}

/**
 * A copy of `value` fit for a log line: credential fields replaced with {@link CENSOR} at any depth, errors as
 * pino serializes them (type, message and stack with their causes', and their own fields), JWTs cut out of strings.
 * A value with `toJSON` (a Date, a URL, grpc-js Metadata) is searched in the form JSON would write.
 */
export function redactDeep(value: unknown, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === "string") return value.includes("eyJ") ? value.replace(COMPACT_JWT, CENSOR) : value;
  if (typeof value !== "object" || value === null) return value;
  if (seen.has(value)) return "[Circular]";
  seen.add(value);
  try {
    if (value instanceof Error) return redactDeep({ ...stdSerializers.err(value) }, seen);
    // What JSON would write for it (a Date's string, a grpc-js Metadata's record), searched like the rest.
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return redactDeep(toJSON.call(value), seen);
    if (Array.isArray(value)) return value.map((v) => redactDeep(v, seen));
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) out[key] = isSensitiveName(key) ? CENSOR : redactDeep(v, seen);
    return out;
  } finally {
    // Only the current branch counts: a value met again on another branch is not a cycle.
    seen.delete(value);
  }
}
