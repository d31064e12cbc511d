// Original file: proto/sts/exchange/v1/exchange.proto

import type { Long } from '@grpc/proto-loader';

export interface BackchannelLogoutResponse {
  /**
   * Every token of the subject issued at or before this time (seconds since
   * epoch) is revoked.
   */
  'revoked_at'?: (number | string | Long);
}

export interface BackchannelLogoutResponse__Output {
  /**
   * Every token of the subject issued at or before this time (seconds since
   * epoch) is revoked.
   */
  'revoked_at': (string);
}
