// Original file: proto/sts/token/v1/token.proto

import type { TokenResult as _sts_token_v1_TokenResult, TokenResult__Output as _sts_token_v1_TokenResult__Output } from '../../../sts/token/v1/TokenResult.js';

export interface TokenBatchResponse {
  'results'?: (_sts_token_v1_TokenResult)[];
}

export interface TokenBatchResponse__Output {
  'results': (_sts_token_v1_TokenResult__Output)[];
}
