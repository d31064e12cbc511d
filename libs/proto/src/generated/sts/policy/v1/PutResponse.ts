// Original file: proto/sts/policy/v1/policy.proto

import type { Long } from '@grpc/proto-loader';

export interface PutResponse {
  'revision'?: (number | string | Long);
}

export interface PutResponse__Output {
  'revision': (string);
}
