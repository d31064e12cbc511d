// Original file: proto/sts/token/v1/token.proto

import type { ClientAuthentication as _sts_token_v1_ClientAuthentication, ClientAuthentication__Output as _sts_token_v1_ClientAuthentication__Output } from '../../../sts/token/v1/ClientAuthentication.js';

/**
 * TokenRequest is an RFC 6749 token request after form decoding.
 */
export interface TokenRequest {
  'client'?: (_sts_token_v1_ClientAuthentication | null);
  /**
   * RFC 6749 grant_type.
   */
  'grant_type'?: (string);
  /**
   * Space-delimited requested scope (RFC 6749 §3.3); empty when absent.
   */
  'scope'?: (string);
  /**
   * Requested audiences (RFC 8693 §2.1 audience, repeatable).
   */
  'audience'?: (string)[];
  /**
   * Requested resources (RFC 8707 resource, repeatable).
   */
  'resource'?: (string)[];
  /**
   * RFC 7523 §2.1 assertion (jwt-bearer grant).
   */
  'assertion'?: (string);
  /**
   * RFC 6749 §6 refresh_token.
   */
  'refresh_token'?: (string);
}

/**
 * TokenRequest is an RFC 6749 token request after form decoding.
 */
export interface TokenRequest__Output {
  'client': (_sts_token_v1_ClientAuthentication__Output | null);
  /**
   * RFC 6749 grant_type.
   */
  'grant_type': (string);
  /**
   * Space-delimited requested scope (RFC 6749 §3.3); empty when absent.
   */
  'scope': (string);
  /**
   * Requested audiences (RFC 8693 §2.1 audience, repeatable).
   */
  'audience': (string)[];
  /**
   * Requested resources (RFC 8707 resource, repeatable).
   */
  'resource': (string)[];
  /**
   * RFC 7523 §2.1 assertion (jwt-bearer grant).
   */
  'assertion': (string);
  /**
   * RFC 6749 §6 refresh_token.
   */
  'refresh_token': (string);
}
