// Original file: proto/sts/policy/v1/policy.proto

import type { DecideRequest as _sts_policy_v1_DecideRequest, DecideRequest__Output as _sts_policy_v1_DecideRequest__Output } from '../../../sts/policy/v1/DecideRequest.js';
import type { Policy as _sts_policy_v1_Policy, Policy__Output as _sts_policy_v1_Policy__Output } from '../../../sts/policy/v1/Policy.js';

export interface ValidateRequest {
  'request'?: (_sts_policy_v1_DecideRequest | null);
  /**
   * Candidate policy to evaluate in place of the stored one with the same id.
   */
  'candidate'?: (_sts_policy_v1_Policy | null);
  /**
   * A policy id to leave out of the set (what if it were deleted): not_found
   * (NOT_FOUND) when none of that id is in force, invalid_request when it is
   * the candidate's id. Empty: nothing left out.
   */
  'without'?: (string);
}

export interface ValidateRequest__Output {
  'request': (_sts_policy_v1_DecideRequest__Output | null);
  /**
   * Candidate policy to evaluate in place of the stored one with the same id.
   */
  'candidate': (_sts_policy_v1_Policy__Output | null);
  /**
   * A policy id to leave out of the set (what if it were deleted): not_found
   * (NOT_FOUND) when none of that id is in force, invalid_request when it is
   * the candidate's id. Empty: nothing left out.
   */
  'without': (string);
}
