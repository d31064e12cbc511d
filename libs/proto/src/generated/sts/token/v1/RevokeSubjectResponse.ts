// Original file: proto/sts/token/v1/token.proto

import type { Long } from '@grpc/proto-loader';

export interface RevokeSubjectResponse {
  /**
   * Every token of the subject issued at or before this time (seconds since
   * epoch) is revoked.
   */
  'revoked_at'?: (number | string | Long);
}

export interface RevokeSubjectResponse__Output {
  /**
   * Every token of the subject issued at or before this time (seconds since
   * epoch) is revoked.
   */
  'revoked_at': (string);
}
