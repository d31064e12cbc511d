/**
 * What an exchange.denied event records of the policy decision that refused the exchange. The policy service's
 * Decision names the forbids that decided a deny and says why (sts.policy.v1 Decision: `policy_ids`, `reason`, "for
 * logs and the exchange.denied event"); without them an auditor sees only that some audience was refused, never which
 * one of several, by which policy, nor at which revision of the policy set (token.exchanged names the permits and the
 * revision of every allow).
 */
import { isCleanText } from "@sts/errors";
import type { Decision__Output } from "@sts/proto";

/** Longest policy `reason` recorded as it is: the engine's name a client, an audience and a few policy ids. */
export const MAX_RECORDED_POLICY_REASON = 4096;

/** The exchange.denied members that say which decision refused the exchange, and why. */
export interface PolicyDenialRecord {
  /** The requested audience the policy refused (with several, the first refused). */
  denied_audience: string;
  /** The forbids that decided it; empty when no permit applied. */
  policy_ids: string[];
  /** The revision of the policy set that decided, as token.exchanged records it. */
  policy_revision: string;
  /** The policy service's reason, when it is one line of text within {@link MAX_RECORDED_POLICY_REASON}. */
  policy_reason?: string;
}

/**
 * The record of a deny for `audience`. The reason is another service's text, so one that could act on an auditor's
 * terminal (a control character, broken UTF-16) or is implausibly long is left out rather than copied.
 */
export function policyDenialRecord(audience: string, decision: Decision__Output): PolicyDenialRecord {
  const reason = decision.reason;
  const recordable = reason !== "" && reason.length <= MAX_RECORDED_POLICY_REASON && isCleanText(reason);
  return {
    denied_audience: audience,
    policy_ids: [...decision.policy_ids],
    policy_revision: decision.policy_revision || "0",
    ...(recordable && { policy_reason: reason }),
  };
}
