/**
 * What a log line may not carry, found by what a field is called rather than
 * by where it sits: pino's path redaction matches exact, case-sensitive paths
 * to a fixed depth, so `headers.Authorization`, a `logout_token`, or a secret
 * four levels into an error's properties went out as they were. Every field,
 * at any depth and in any case or spelling (`client_secret`, `clientSecret`,
 * `Proxy-Authorization`), whose name ends in one of the words below is
 * replaced; errors are serialized first (pino's own serializer) so their
 * properties are searched too. A JWK's private members are replaced whatever
 * the field holding the key is called.
 *
 * Credentials also travel inside text no field name marks: an error message
 * quoting a header, a form body (`client_secret=…&subject_token=…`), a
 * PEM-armored private key or a NATS creds file, a URL's userinfo, a V8 JSON
 * parse error quoting its input. Those shapes are cut out of every string,
 * the log message included (see {@link redactLogArguments}). Every pattern
 * starts only where a run of its characters starts, so a long line costs
 * linear time, not the square of its length.
 */
import { stdSerializers } from "pino";

/** What a redacted value is replaced with. */
export const CENSOR = "[redacted]";

/**
 * Field names (lowercased, `-` and `_` dropped) that hold a credential: every `*_token` (CONVENTIONS: access, refresh,
 * id, subject, actor, logout tokens), secrets, passwords, private and master keys, API keys, NATS nkey seeds, assertions,
 * Authorization fields, cookies; plurals too (a list of secrets is as secret as one).
 */
const SENSITIVE_NAME = /(?:tokens?|secrets?|passwords?|passphrases?|privatekeys?|masterkeys?|apikeys?|seeds?|assertions?|authorization|cookies?)$/;

/**
 * JWK members holding private or symmetric key material: EC/OKP `d` (RFC 7518 §6.2.2, RFC 8037 §2), RSA `d`, `p`,
 * `q`, `dp`, `dq`, `qi`, `oth` (RFC 7518 §6.3.2), `oct` `k` (RFC 7518 §6.4.1), and `priv` of the AKP key type.
 */
const JWK_PRIVATE_MEMBERS: ReadonlySet<string> = new Set(["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"]);

/** A compact JWS or the first three parts of a JWE: a base64url JSON header (`{"` is `eyJ`), a payload, a signature. */
const COMPACT_JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

/**
 * A PEM or OpenSSH armored block (a private key, a NATS creds file's user JWT and nkey seed), to its END line or,
 * when a message was cut short, to the end of the text.
 */
const ARMORED_BLOCK = /-----BEGIN ([A-Z0-9 ]{1,64})-----[\s\S]*?(?:-----END \1-----|$)/g;

/** A NATS nkey seed (`SU…` user, `SA…` account, `SO…` operator, …): 58 base32 characters. */
const NKEY_SEED = /\bS[UAONCPX][A-Z2-7]{56}\b/g;

/** The stack's own bearer tokens that are not JWTs: `sto_` opaque access, `str_` refresh, `rat_` registration access. */
const STACK_TOKEN = /(?<![A-Za-z0-9_-])(?:sto|str|rat)_[A-Za-z0-9_-]{20,}/g;

/**
 * An Authorization value (RFC 9110 §11.4 token68 after a scheme): `Basic dXNlcjpw…`, `Bearer sto_…`, `DPoP …`.
 * An `auth-param` name (`Bearer error="invalid_token"`) or a word of prose (`Bearer tokens`) is all lower-case letters,
 * which no credential is, and stays.
 */
const AUTH_CREDENTIALS = /\b(Basic|Bearer|DPoP)(\s+)([A-Za-z0-9\-._~+/]+=*)(?![A-Za-z0-9\-._~+/=])/gi;

/** A URI's userinfo (`nats://user:password@host`, RFC 3986 §3.2.1: a password there is deprecated, and still seen). */
const URI_USERINFO = /(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s/?#@]*@/g;

/**
 * `name=value` in a form body or a query (RFC 6749 §2.3.1, RFC 8693 §2.1). A value stops at `=` too, so that a value
 * that is not a credential never hides a `name=` inside it from the next match.
 */
const FORM_VALUE = /(?<![A-Za-z0-9_.-])([A-Za-z][A-Za-z0-9_.-]*)=("[^"]*"|[^&=\s"',;]+)/g;

/** `"name": "value"`: JSON quoted in a message (V8's JSON.parse errors quote their input). */
const JSON_MEMBER = /"([A-Za-z][A-Za-z0-9_.-]*)"(\s*:\s*)"(?:[^"\\]|\\.)*"/g;

/** Whether a field of this name holds a credential. */
export function isSensitiveName(name: string): boolean {
  return SENSITIVE_NAME.test(name.toLowerCase().replace(/[-_]/g, ""));
}

/** `text` with every credential shape listed above cut out. */
export function redactText(text: string): string {
  return text
    .replace(ARMORED_BLOCK, CENSOR)
    .replace(COMPACT_JWT, CENSOR)
    .replace(NKEY_SEED, CENSOR)
    .replace(STACK_TOKEN, CENSOR)
    .replace(URI_USERINFO, `$1${CENSOR}@`)
    .replace(AUTH_CREDENTIALS, (match, scheme: string, space: string, credentials: string) =>
      /^[a-z]+=*$/.test(credentials) ? match : `${scheme}${space}${CENSOR}`,
    )
    .replace(FORM_VALUE, (match, name: string, value: string) =>
      isSensitiveName(name) && value !== CENSOR ? `${name}=${value.startsWith('"') ? `"${CENSOR}"` : CENSOR}` : match,
    )
    .replace(JSON_MEMBER, (match, name: string, separator: string) => (isSensitiveName(name) ? `"${name}"${separator}"${CENSOR}"` : match));
}

/** Whether an object is a JSON Web Key (RFC 7517 §4.1: `kty` is required). */
const isJwk = (value: object): boolean => typeof (value as { kty?: unknown }).kty === "string";

/**
 * A copy of `value` fit for a log line: credential fields replaced with {@link CENSOR} at any depth, a JWK's private
 * members too, errors as pino serializes them (type, message and stack with their causes', and their own fields),
 * credentials cut out of strings ({@link redactText}). A value with `toJSON` (a Date, a URL, grpc-js Metadata) is
 * searched in the form JSON would write.
 */
export function redactDeep(value: unknown, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === "string") return redactText(value);
  if (typeof value !== "object" || value === null) return value;
  if (seen.has(value)) return "[Circular]";
  seen.add(value);
  try {
    if (value instanceof Error) return redactDeep({ ...stdSerializers.err(value) }, seen);
    // What JSON would write for it (a Date's string, a grpc-js Metadata's record), searched like the rest.
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return redactDeep(toJSON.call(value), seen);
    if (Array.isArray(value)) return value.map((v) => redactDeep(v, seen));
    const jwk = isJwk(value);
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) out[key] = isSensitiveName(key) || (jwk && JWK_PRIVATE_MEMBERS.has(key)) ? CENSOR : redactDeep(v, seen);
    return out;
  } finally {
    // Only the current branch counts: a value met again on another branch is not a cycle.
    seen.delete(value);
  }
}

/** The message pino takes from a merging object's `err` when the call gives none (pino's `write`). */
function impliedMessage(first: object): string | undefined {
  if (first instanceof Error) return first.message;
  const { msg, err } = first as { msg?: unknown; err?: { message?: unknown } | null };
  if (msg !== undefined || typeof err !== "object" || err === null) return undefined;
  return typeof err.message === "string" ? err.message : undefined;
}

/**
 * The arguments of a pino log call (`[object?, message?, ...values]`) with the message and the values interpolated
 * into it redacted. The merging object is left to the log formatter (which redacts it), but the message pino would
 * copy out of its error (`log.error(err)`, `log.error({ err })`) is made explicit here first, redacted: pino writes
 * that message beside the object, where no formatter sees it.
 */
export function redactLogArguments(args: readonly unknown[]): unknown[] {
  const [first, ...rest] = args;
  if (typeof first !== "object" || first === null) return args.map((a) => redactDeep(a));
  if (rest.length > 0) return [first, ...rest.map((a) => redactDeep(a))];
  const implied = impliedMessage(first);
  return implied === undefined ? [first] : [first, redactText(implied)];
}
