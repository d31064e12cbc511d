// Original file: proto/sts/policy/v1/policy.proto

import type { Policy as _sts_policy_v1_Policy, Policy__Output as _sts_policy_v1_Policy__Output } from '../../../sts/policy/v1/Policy.js';

export interface ListResponse {
  'policies'?: (_sts_policy_v1_Policy)[];
}

export interface ListResponse__Output {
  'policies': (_sts_policy_v1_Policy__Output)[];
}
