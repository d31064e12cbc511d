// Original file: proto/sts/token/v1/token.proto

import type { MintResult as _sts_token_v1_MintResult, MintResult__Output as _sts_token_v1_MintResult__Output } from '../../../sts/token/v1/MintResult.js';

export interface MintBatchResponse {
  'results'?: (_sts_token_v1_MintResult)[];
}

export interface MintBatchResponse__Output {
  'results': (_sts_token_v1_MintResult__Output)[];
}
