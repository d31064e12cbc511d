// Original file: proto/sts/audit/v1/audit.proto

import type { Long } from '@grpc/proto-loader';

export interface VerifyResponse {
  'ok'?: (boolean);
  /**
   * Number of records checked.
   */
  'checked'?: (number | string | Long);
  /**
   * Sequence of the first record that does not match, or of the first one
   * missing (0 when ok).
   */
  'first_bad_sequence'?: (number | string | Long);
  /**
   * Why, in words: "record missing", "previous hash does not match",
   * "content does not match its hash", "records missing at the end of the
   * chain", "the chain does not end in the record last appended", "records
   * after the last one appended".
   */
  'reason'?: (string);
}

export interface VerifyResponse__Output {
  'ok': (boolean);
  /**
   * Number of records checked.
   */
  'checked': (string);
  /**
   * Sequence of the first record that does not match, or of the first one
   * missing (0 when ok).
   */
  'first_bad_sequence': (string);
  /**
   * Why, in words: "record missing", "previous hash does not match",
   * "content does not match its hash", "records missing at the end of the
   * chain", "the chain does not end in the record last appended", "records
   * after the last one appended".
   */
  'reason': (string);
}
