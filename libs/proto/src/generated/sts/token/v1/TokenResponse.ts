// Original file: proto/sts/token/v1/token.proto

import type { Long } from '@grpc/proto-loader';

/**
 * TokenResponse is the RFC 6749 §5.1 successful response.
 */
export interface TokenResponse {
  'access_token'?: (string);
  /**
   * Always "Bearer" (RFC 6750).
   */
  'token_type'?: (string);
  /**
   * Lifetime of the access token in seconds.
   */
  'expires_in'?: (number | string | Long);
  /**
   * Granted scope, space-delimited; empty when the token has none.
   */
  'scope'?: (string);
  /**
   * RFC 8693 issued_token_type, set for exchanges.
   */
  'issued_token_type'?: (string);
  'refresh_token'?: (string);
  'id_token'?: (string);
  /**
   * Lifetime of the refresh token in seconds (OA4MP's refresh_token_lifetime).
   */
  'refresh_token_lifetime'?: (number | string | Long);
  /**
   * Issue time of the refresh token, seconds since epoch (OA4MP's refresh_token_iat).
   */
  'refresh_token_iat'?: (number | string | Long);
}

/**
 * TokenResponse is the RFC 6749 §5.1 successful response.
 */
export interface TokenResponse__Output {
  'access_token': (string);
  /**
   * Always "Bearer" (RFC 6750).
   */
  'token_type': (string);
  /**
   * Lifetime of the access token in seconds.
   */
  'expires_in': (string);
  /**
   * Granted scope, space-delimited; empty when the token has none.
   */
  'scope': (string);
  /**
   * RFC 8693 issued_token_type, set for exchanges.
   */
  'issued_token_type': (string);
  'refresh_token': (string);
  'id_token': (string);
  /**
   * Lifetime of the refresh token in seconds (OA4MP's refresh_token_lifetime).
   */
  'refresh_token_lifetime': (string);
  /**
   * Issue time of the refresh token, seconds since epoch (OA4MP's refresh_token_iat).
   */
  'refresh_token_iat': (string);
}
