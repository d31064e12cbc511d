/**
 * What text taken from a request may hold, checked the same way at every boundary: a name that passes here is
 * accepted by NATS subjects (as UTF-8), header encodings, Cedar and log lines alike.
 */

// With the u flag a surrogate pair is one code point, so only an unpaired half is in category Cs.
const LONE_SURROGATE = /\p{Cs}/u;
// C0, DEL and C1 controls: never part of an identifier, and a way to forge log lines.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Whether `value` is well-formed UTF-16 (String.prototype.isWellFormed): an unpaired surrogate has no UTF-8 form. */
export function isWellFormed(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

/** Whether `value` holds no control character (C0, DEL, C1) and no unpaired surrogate. */
export function isCleanText(value: string): boolean {
  return !CONTROL.test(value) && isWellFormed(value);
}

/**
 * Characters that act on a terminal or a viewer rather than show, as a regex class body: C0, DEL and C1 controls,
 * the line and paragraph separators (U+2028, U+2029) and every bidi control (ALM, LRM, RLM, the embeddings,
 * overrides and isolates: the Trojan Source set, CVE-2021-42574).
 */
const UNSHOWN_CLASS = "\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069";
const UNSHOWN = new RegExp(`[${UNSHOWN_CLASS}]`);
const UNSHOWN_OR_BACKSLASH = new RegExp(`[${UNSHOWN_CLASS}\\\\]`, "g");

/** Whether `value` is one line of text that reads as written (none of the characters above). */
export function isShownAsWritten(value: string): boolean {
  return !UNSHOWN.test(value);
}

/** `value` for a terminal: each character above written as its `\u{…}` escape, and `\` as `\\`, so no escape is ambiguous. */
export function escapeUnshown(value: string): string {
  return value.replace(UNSHOWN_OR_BACKSLASH, (c) => (c === "\\" ? "\\\\" : `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`));
}
