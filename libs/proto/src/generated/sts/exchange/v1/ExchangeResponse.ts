// Original file: proto/sts/exchange/v1/exchange.proto

import type { Long } from '@grpc/proto-loader';

/**
 * ExchangeResponse is RFC 8693 §2.2.1.
 */
export interface ExchangeResponse {
  'access_token'?: (string);
  'issued_token_type'?: (string);
  /**
   * "Bearer" for access tokens, "N_A" for other token types.
   */
  'token_type'?: (string);
  'expires_in'?: (number | string | Long);
  'scope'?: (string);
  /**
   * The issued token's jti. Not part of RFC 8693's response (the gateway leaves it out): it lets a caller that caches
   * the token (a sidecar, the mesh library) see it revoked when the token is opaque and so cannot be decoded.
   */
  'jti'?: (string);
}

/**
 * ExchangeResponse is RFC 8693 §2.2.1.
 */
export interface ExchangeResponse__Output {
  'access_token': (string);
  'issued_token_type': (string);
  /**
   * "Bearer" for access tokens, "N_A" for other token types.
   */
  'token_type': (string);
  'expires_in': (string);
  'scope': (string);
  /**
   * The issued token's jti. Not part of RFC 8693's response (the gateway leaves it out): it lets a caller that caches
   * the token (a sidecar, the mesh library) see it revoked when the token is opaque and so cannot be decoded.
   */
  'jti': (string);
}
