/**
 * User-chosen strings (client ids such as `admin:test/vo_1`, jtis, policy
 * ids) become NATS KV keys and subject tokens only encoded: raw, `:` is an
 * invalid KV key character, and `.`, `*`, `>` would rewrite a subject.
 * base64url (no padding) yields only [A-Za-z0-9_-], valid in both.
 */
import { OAuthError, isWellFormed } from "@sts/errors";

/** Stands for the empty string (which base64url encodes as nothing); unpadded base64url never yields "=". */
const EMPTY = "=";

/**
 * A string with a lone UTF-16 surrogate (JSON's `"\ud800"` makes one, in a token's claims): UTF-8 has no bytes for
 * it, so it would share its key or digest with the same string holding U+FFFD, and one name could overwrite another's
 * record. Such a name comes from a request or a token, so it is invalid_request wherever a caller does not say more
 * fitting (a 400, never a 500); callers that know the position (invalid_client, invalid_grant) map it.
 */
export class IllFormedStringError extends OAuthError {
  constructor() {
    super("invalid_request", "a name in the request is not well-formed Unicode (a lone UTF-16 surrogate)");
  }
}

export { isWellFormed };

/** `value` itself; throws IllFormedStringError when it is not well-formed UTF-16. */
export function wellFormed(value: string): string {
  if (!isWellFormed(value)) throw new IllFormedStringError();
  return value;
}

/** Encodes any well-formed string into one valid KV key / subject token; throws IllFormedStringError for any other. */
export function encodeKey(value: string): string {
  return value === "" ? EMPTY : Buffer.from(wellFormed(value), "utf8").toString("base64url");
}

/** Reverses encodeKey. */
export function decodeKey(encoded: string): string {
  return encoded === EMPTY ? "" : Buffer.from(encoded, "base64url").toString("utf8");
}

/** Characters NATS accepts in a KV key. */
export const VALID_KV_KEY = /^[-/_=.a-zA-Z0-9]+$/;
