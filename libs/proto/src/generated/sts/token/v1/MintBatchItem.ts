// Original file: proto/sts/token/v1/token.proto

import type { MintRequest as _sts_token_v1_MintRequest, MintRequest__Output as _sts_token_v1_MintRequest__Output } from '../../../sts/token/v1/MintRequest.js';

/**
 * MintBatchItem is one Mint request and its trace context.
 */
export interface MintBatchItem {
  'request'?: (_sts_token_v1_MintRequest | null);
  'trace_context'?: ({[key: string]: string});
}

/**
 * MintBatchItem is one Mint request and its trace context.
 */
export interface MintBatchItem__Output {
  'request': (_sts_token_v1_MintRequest__Output | null);
  'trace_context': ({[key: string]: string});
}
