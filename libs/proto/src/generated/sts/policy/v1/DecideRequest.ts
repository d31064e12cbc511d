// Original file: proto/sts/policy/v1/policy.proto

import type { Subject as _sts_policy_v1_Subject, Subject__Output as _sts_policy_v1_Subject__Output } from '../../../sts/policy/v1/Subject.js';

/**
 * DecideRequest is one exchange to decide on.
 */
export interface DecideRequest {
  /**
   * The authenticated calling client (Cedar principal Client::"<id>").
   */
  'client_id'?: (string);
  /**
   * The target audience (Cedar resource Audience::"<aud>").
   */
  'audience'?: (string);
  /**
   * The scopes requested, already within the subject token's scope.
   */
  'requested_scopes'?: (string)[];
  'subject'?: (_sts_policy_v1_Subject | null);
  /**
   * Depth of the delegation chain the new token would carry.
   */
  'depth'?: (number);
  /**
   * Actors already in the chain, newest first.
   */
  'actors'?: (string)[];
  /**
   * Whether the caller is in the subject token's audience.
   */
  'caller_in_audience'?: (boolean);
}

/**
 * DecideRequest is one exchange to decide on.
 */
export interface DecideRequest__Output {
  /**
   * The authenticated calling client (Cedar principal Client::"<id>").
   */
  'client_id': (string);
  /**
   * The target audience (Cedar resource Audience::"<aud>").
   */
  'audience': (string);
  /**
   * The scopes requested, already within the subject token's scope.
   */
  'requested_scopes': (string)[];
  'subject': (_sts_policy_v1_Subject__Output | null);
  /**
   * Depth of the delegation chain the new token would carry.
   */
  'depth': (number);
  /**
   * Actors already in the chain, newest first.
   */
  'actors': (string)[];
  /**
   * Whether the caller is in the subject token's audience.
   */
  'caller_in_audience': (boolean);
}
