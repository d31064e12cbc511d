/** The `reason` an operator gives for a change (a subject revoked, a key withdrawn), checked once for every operator call. */
import { invalidRequest } from "@sts/errors";

/** Longest `reason` accepted, in characters: a note for the audit trail, not a document. */
export const MAX_REASON_CHARS = 512;

/**
 * Control characters (C0, C1), the Unicode line and paragraph separators (U+2028, U+2029: line breaks to terminals
 * and many viewers) and every bidi control (LRM, RLM, ALM U+061C, embeddings, overrides and isolates: the Trojan
 * Source set): a reason is shown on operators' terminals and in the audit trail, so it is one line of text read as
 * written.
 */
const CONTROL = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** The reason, or undefined when none was given and none is `required`; invalid_request (never echoing it) otherwise. */
export function parseReason(value: string, required: string | false): string | undefined {
  if (value.trim().length === 0) {
    if (required) throw invalidRequest(`reason is required: ${required}`);
    return undefined;
  }
  if (value.length > MAX_REASON_CHARS) throw invalidRequest(`reason is longer than ${MAX_REASON_CHARS} characters`);
  if (CONTROL.test(value)) throw invalidRequest("reason must be one line of text, without control characters");
  return value;
}
