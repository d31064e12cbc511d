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
