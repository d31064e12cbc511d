/** The `reason` an operator gives for a change (a subject revoked, a key withdrawn), checked once for every operator call. */
import { invalidRequest, isShownAsWritten } from "@sts/errors";

/** Longest `reason` accepted, in characters: a note for the audit trail, not a document. */
export const MAX_REASON_CHARS = 512;

/** The reason, or undefined when none was given and none is `required`; invalid_request (never echoing it) otherwise. */
export function parseReason(value: string, required: string | false): string | undefined {
  if (value.trim().length === 0) {
    if (required) throw invalidRequest(`reason is required: ${required}`);
    return undefined;
  }
  if (value.length > MAX_REASON_CHARS) throw invalidRequest(`reason is longer than ${MAX_REASON_CHARS} characters`);
  // A reason is shown on operators' terminals and in the audit trail: one line of text, read as written.
  if (!isShownAsWritten(value)) throw invalidRequest("reason must be one line of text, without control characters");
  return value;
}
