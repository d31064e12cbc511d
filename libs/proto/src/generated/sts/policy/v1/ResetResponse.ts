// Original file: proto/sts/policy/v1/policy.proto

import type { Long } from '@grpc/proto-loader';

export interface ResetResponse {
  /**
   * The revision written; the current one when nothing was (changed false).
   */
  'revision'?: (number | string | Long);
  /**
   * False when the stored policy already was the config file's version,
   * managed by the file: nothing was written or announced.
   */
  'changed'?: (boolean);
}

export interface ResetResponse__Output {
  /**
   * The revision written; the current one when nothing was (changed false).
   */
  'revision': (string);
  /**
   * False when the stored policy already was the config file's version,
   * managed by the file: nothing was written or announced.
   */
  'changed': (boolean);
}
