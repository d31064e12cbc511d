// Original file: proto/sts/token/v1/token.proto

import type { TokenBatchItem as _sts_token_v1_TokenBatchItem, TokenBatchItem__Output as _sts_token_v1_TokenBatchItem__Output } from '../../../sts/token/v1/TokenBatchItem.js';

export interface TokenBatchRequest {
  'items'?: (_sts_token_v1_TokenBatchItem)[];
}

export interface TokenBatchRequest__Output {
  'items': (_sts_token_v1_TokenBatchItem__Output)[];
}
