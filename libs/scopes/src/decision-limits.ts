/**
 * The most one policy decision question carries (sts.policy.v1 DecideRequest): the policy service refuses more as a
 * malformed request, and the exchanger refuses a subject token naming more before it asks, as that token's fault.
 */
import { isCleanText } from "@sts/errors";

/** Longest client id, audience, actor, `sub`, `iss` or scope a decision request may carry, in characters. */
export const MAX_DECISION_NAME_LENGTH = 1024;
/** Most entries in any list of a decision request (scopes, audiences, actors). */
export const MAX_DECISION_LIST_LENGTH = 256;

/** Whether `s` may be carried as a name in a decision request: within {@link MAX_DECISION_NAME_LENGTH}, no control character, no broken UTF-16. */
export function isCleanName(s: string): boolean {
  return s.length <= MAX_DECISION_NAME_LENGTH && isCleanText(s);
}
