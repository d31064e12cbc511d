// Original file: proto/sts/token/v1/token.proto

import type { MintResponse as _sts_token_v1_MintResponse, MintResponse__Output as _sts_token_v1_MintResponse__Output } from '../../../sts/token/v1/MintResponse.js';
import type { ItemError as _sts_token_v1_ItemError, ItemError__Output as _sts_token_v1_ItemError__Output } from '../../../sts/token/v1/ItemError.js';

/**
 * MintResult is the outcome of one item, in the order of the request.
 */
export interface MintResult {
  'response'?: (_sts_token_v1_MintResponse | null);
  'error'?: (_sts_token_v1_ItemError | null);
  'outcome'?: "response"|"error";
}

/**
 * MintResult is the outcome of one item, in the order of the request.
 */
export interface MintResult__Output {
  'response'?: (_sts_token_v1_MintResponse__Output | null);
  'error'?: (_sts_token_v1_ItemError__Output | null);
  'outcome'?: "response"|"error";
}
