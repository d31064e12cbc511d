// Original file: proto/sts/token/v1/token.proto

import type { TokenRequest as _sts_token_v1_TokenRequest, TokenRequest__Output as _sts_token_v1_TokenRequest__Output } from '../../../sts/token/v1/TokenRequest.js';

/**
 * TokenBatchItem is one Token request and the trace context it was made in
 * (W3C traceparent/tracestate), so its spans and events join its own trace.
 */
export interface TokenBatchItem {
  'request'?: (_sts_token_v1_TokenRequest | null);
  'trace_context'?: ({[key: string]: string});
}

/**
 * TokenBatchItem is one Token request and the trace context it was made in
 * (W3C traceparent/tracestate), so its spans and events join its own trace.
 */
export interface TokenBatchItem__Output {
  'request': (_sts_token_v1_TokenRequest__Output | null);
  'trace_context': ({[key: string]: string});
}
