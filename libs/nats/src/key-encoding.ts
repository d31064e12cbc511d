/**
 * User-chosen strings (client ids such as `admin:test/vo_1`, jtis, policy
 * ids) become NATS KV keys and subject tokens only encoded: raw, `:` is an
 * invalid KV key character, and `.`, `*`, `>` would rewrite a subject.
 * base64url (no padding) yields only [A-Za-z0-9_-], valid in both.
 */

/** Stands for the empty string (which base64url encodes as nothing); unpadded base64url never yields "=". */
const EMPTY = "=";

/** Encodes any string into one valid KV key / subject token. */
export function encodeKey(value: string): string {
  return value === "" ? EMPTY : Buffer.from(value, "utf8").toString("base64url");
}

/** Reverses encodeKey. */
export function decodeKey(encoded: string): string {
  return encoded === EMPTY ? "" : Buffer.from(encoded, "base64url").toString("utf8");
}

/** Characters NATS accepts in a KV key. */
export const VALID_KV_KEY = /^[-/_=.a-zA-Z0-9]+$/;
