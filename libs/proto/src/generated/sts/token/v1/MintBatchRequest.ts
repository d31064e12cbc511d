// Original file: proto/sts/token/v1/token.proto

import type { MintBatchItem as _sts_token_v1_MintBatchItem, MintBatchItem__Output as _sts_token_v1_MintBatchItem__Output } from '../../../sts/token/v1/MintBatchItem.js';

export interface MintBatchRequest {
  'items'?: (_sts_token_v1_MintBatchItem)[];
}

export interface MintBatchRequest__Output {
  'items': (_sts_token_v1_MintBatchItem__Output)[];
}
