// Original file: proto/sts/token/v1/token.proto

import type { Long } from '@grpc/proto-loader';

export interface MintResponse {
  'access_token'?: (string);
  'issued_token_type'?: (string);
  'expires_in'?: (number | string | Long);
  'scope'?: (string);
  'jti'?: (string);
}

export interface MintResponse__Output {
  'access_token': (string);
  'issued_token_type': (string);
  'expires_in': (string);
  'scope': (string);
  'jti': (string);
}
