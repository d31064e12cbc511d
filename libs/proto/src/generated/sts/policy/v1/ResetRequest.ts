// Original file: proto/sts/policy/v1/policy.proto

import type { Long } from '@grpc/proto-loader';

export interface ResetRequest {
  /**
   * The id of a policy the config file's hops give (hop/<from>/<to>/exchange
   * or hop/<from>/<to>/scopes; List shows them).
   */
  'id'?: (string);
  /**
   * When non-zero, the reset succeeds only if the stored revision matches, as
   * in Put (the revision of the tombstone, for a deleted policy).
   */
  'expected_revision'?: (number | string | Long);
}

export interface ResetRequest__Output {
  /**
   * The id of a policy the config file's hops give (hop/<from>/<to>/exchange
   * or hop/<from>/<to>/scopes; List shows them).
   */
  'id': (string);
  /**
   * When non-zero, the reset succeeds only if the stored revision matches, as
   * in Put (the revision of the tombstone, for a deleted policy).
   */
  'expected_revision': (string);
}
