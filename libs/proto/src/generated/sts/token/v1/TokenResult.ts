// Original file: proto/sts/token/v1/token.proto

import type { TokenResponse as _sts_token_v1_TokenResponse, TokenResponse__Output as _sts_token_v1_TokenResponse__Output } from '../../../sts/token/v1/TokenResponse.js';
import type { ItemError as _sts_token_v1_ItemError, ItemError__Output as _sts_token_v1_ItemError__Output } from '../../../sts/token/v1/ItemError.js';

/**
 * TokenResult is the outcome of one item, in the order of the request.
 */
export interface TokenResult {
  'response'?: (_sts_token_v1_TokenResponse | null);
  'error'?: (_sts_token_v1_ItemError | null);
  'outcome'?: "response"|"error";
}

/**
 * TokenResult is the outcome of one item, in the order of the request.
 */
export interface TokenResult__Output {
  'response'?: (_sts_token_v1_TokenResponse__Output | null);
  'error'?: (_sts_token_v1_ItemError__Output | null);
  'outcome'?: "response"|"error";
}
