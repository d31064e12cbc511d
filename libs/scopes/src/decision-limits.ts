/**
 * The most one policy decision question carries (sts.policy.v1 DecideRequest): the policy service refuses more as a
 * malformed request, and the exchanger refuses a subject token naming more before it asks, as that token's fault.
 *
 * Beyond each name and list, the question as a whole has a budget: the policy engine asks Cedar once for the
 * `exchange` gate and once per requested scope, and cedar-wasm converts and checks the question's context on every
 * call, at about 30 µs per KB. Bounded by the 76 KiB gRPC message alone, one Decide of 256 short scopes beside 70 KB
 * of actors held the replica's event loop (every other Decide) for 0.6 s. The bounds below are what an exchanger can
 * legitimately send; each is derived from a limit enforced before the question is asked.
 */
import { isCleanText } from "@sts/errors";
import { MAX_AUDIENCE_LENGTH } from "./audience.js";
import { MAX_SCOPES, MAX_SCOPE_STRING_LENGTH } from "./scope-syntax.js";

/** Longest client id, audience, actor, `sub`, `iss` or scope a decision request may carry, in characters. */
export const MAX_DECISION_NAME_LENGTH = 1024;
/** Most entries in any list of a decision request (scopes, audiences, actors); some lists have a smaller bound below. */
export const MAX_DECISION_LIST_LENGTH = 256;

/**
 * Most requested scopes. The exchanger asks the meet of the request's scopes and the subject token's (at most
 * {@link MAX_SCOPES} each, or the parameter or claim is refused), and every entry of the meet is an entry of one or the
 * other: a requested scope within the subject's, or a narrower subject scope under a broader request.
 */
export const MAX_DECISION_REQUESTED_SCOPES = 2 * MAX_SCOPES;
/** Most subject scopes: a scope claim naming more than {@link MAX_SCOPES} does not parse, and is refused before any question. */
export const MAX_DECISION_SUBJECT_SCOPES = MAX_SCOPES;

/** Largest subject token an exchanger takes: the ceiling of `tokens.max_token_bytes` (libs/config schema). */
export const MAX_SUBJECT_TOKEN_BYTES = 65_536;

/**
 * Most characters the subject token's part of a question sums to (`sub`, `client_id`, `iss`, scopes, audiences, act
 * chain's actors): 49,152. Each is a string of the token's payload, which is at most 3/4 of a token of
 * {@link MAX_SUBJECT_TOKEN_BYTES} (base64url: 3 bytes in 4 characters), and a string's length in UTF-16 units is at
 * most its UTF-8 length in the JSON (an escape only makes it shorter, a canonical scope is never longer).
 */
export const MAX_DECISION_SUBJECT_CHARS = (MAX_SUBJECT_TOKEN_BYTES / 4) * 3;

/**
 * Most characters all strings of one question sum to: 67,072. The subject's part; the requested scopes, entries of the
 * request's scope parameter (at most {@link MAX_SCOPE_STRING_LENGTH}) or of the subject's scope claim (another as
 * many); the caller's client id and the target audience.
 */
export const MAX_DECISION_CHARS = MAX_DECISION_SUBJECT_CHARS + 2 * MAX_SCOPE_STRING_LENGTH + MAX_DECISION_NAME_LENGTH + MAX_AUDIENCE_LENGTH;

/** Whether `s` may be carried as a name in a decision request: within {@link MAX_DECISION_NAME_LENGTH}, no control character, no broken UTF-16. */
export function isCleanName(s: string): boolean {
  return s.length <= MAX_DECISION_NAME_LENGTH && isCleanText(s);
}

/** The characters of a question's strings summed, as {@link MAX_DECISION_CHARS} counts them: names, and every entry of lists. */
export function decisionChars(parts: ReadonlyArray<string | readonly string[]>): number {
  let total = 0;
  for (const part of parts) {
    if (typeof part === "string") total += part.length;
    else for (const s of part) total += s.length;
  }
  return total;
}
