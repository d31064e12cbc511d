// Original file: proto/sts/policy/v1/policy.proto

import type { Policy as _sts_policy_v1_Policy, Policy__Output as _sts_policy_v1_Policy__Output } from '../../../sts/policy/v1/Policy.js';
import type { Long } from '@grpc/proto-loader';

export interface PutRequest {
  'policy'?: (_sts_policy_v1_Policy | null);
  /**
   * When non-zero, the write succeeds only if the stored revision matches.
   */
  'expected_revision'?: (number | string | Long);
}

export interface PutRequest__Output {
  'policy': (_sts_policy_v1_Policy__Output | null);
  /**
   * When non-zero, the write succeeds only if the stored revision matches.
   */
  'expected_revision': (string);
}
