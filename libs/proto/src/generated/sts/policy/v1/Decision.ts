// Original file: proto/sts/policy/v1/policy.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Decision is the outcome of one request.
 */
export interface Decision {
  'allow'?: (boolean);
  /**
   * Ids of the policies that decided (the permits, or the forbids on deny).
   */
  'policy_ids'?: (string)[];
  /**
   * Of the requested scopes, those the policy allows; in place of one it
   * does not, the narrower scopes under it that a deciding permit's
   * @narrow_to names and the policy allows.
   */
  'allowed_scopes'?: (string)[];
  /**
   * Scopes the policy grants when none are requested (@default_scope).
   */
  'default_scopes'?: (string)[];
  /**
   * Largest chain depth allowed (@max_depth), 0 when no policy sets one. On
   * a deny, set only when the chain's depth is what was refused: the request
   * exceeded this bound of the permits that would otherwise have decided.
   */
  'max_depth'?: (number);
  /**
   * Human-readable reason, for logs and the exchange.denied event.
   */
  'reason'?: (string);
  /**
   * KV revision of the policy set that decided.
   */
  'policy_revision'?: (number | string | Long);
  /**
   * Errors met while evaluating (never cause an allow).
   */
  'errors'?: (string)[];
  /**
   * Which making of the policies bucket policy_revision counts in: the
   * creation time of the bucket's stream as digits (UTC, year to second, then
   * the fraction of a second), as in the policy.updated event id. A bucket
   * made anew (an operator's reset, NATS data lost) numbers its revisions
   * from 1 again: a later generation is newer whatever its revision. Empty
   * from a policy service that names none; revisions alone compare then.
   */
  'policy_generation'?: (string);
}

/**
 * Decision is the outcome of one request.
 */
export interface Decision__Output {
  'allow': (boolean);
  /**
   * Ids of the policies that decided (the permits, or the forbids on deny).
   */
  'policy_ids': (string)[];
  /**
   * Of the requested scopes, those the policy allows; in place of one it
   * does not, the narrower scopes under it that a deciding permit's
   * @narrow_to names and the policy allows.
   */
  'allowed_scopes': (string)[];
  /**
   * Scopes the policy grants when none are requested (@default_scope).
   */
  'default_scopes': (string)[];
  /**
   * Largest chain depth allowed (@max_depth), 0 when no policy sets one. On
   * a deny, set only when the chain's depth is what was refused: the request
   * exceeded this bound of the permits that would otherwise have decided.
   */
  'max_depth': (number);
  /**
   * Human-readable reason, for logs and the exchange.denied event.
   */
  'reason': (string);
  /**
   * KV revision of the policy set that decided.
   */
  'policy_revision': (string);
  /**
   * Errors met while evaluating (never cause an allow).
   */
  'errors': (string)[];
  /**
   * Which making of the policies bucket policy_revision counts in: the
   * creation time of the bucket's stream as digits (UTC, year to second, then
   * the fraction of a second), as in the policy.updated event id. A bucket
   * made anew (an operator's reset, NATS data lost) numbers its revisions
   * from 1 again: a later generation is newer whatever its revision. Empty
   * from a policy service that names none; revisions alone compare then.
   */
  'policy_generation': (string);
}
