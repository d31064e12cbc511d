// Original file: proto/sts/audit/v1/audit.proto

import type { Long } from '@grpc/proto-loader';

export interface VerifyResponse {
  'ok'?: (boolean);
  /**
   * Number of records checked.
   */
  'checked'?: (number | string | Long);
  /**
   * Sequence of the first record whose hash does not match (0 when ok).
   */
  'first_bad_sequence'?: (number | string | Long);
  'reason'?: (string);
}

export interface VerifyResponse__Output {
  'ok': (boolean);
  /**
   * Number of records checked.
   */
  'checked': (string);
  /**
   * Sequence of the first record whose hash does not match (0 when ok).
   */
  'first_bad_sequence': (string);
  'reason': (string);
}
