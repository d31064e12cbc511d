// Original file: proto/sts/exchange/v1/exchange.proto

import type { ClientAuthentication as _sts_token_v1_ClientAuthentication, ClientAuthentication__Output as _sts_token_v1_ClientAuthentication__Output } from '../../../sts/token/v1/ClientAuthentication.js';

/**
 * ExchangeRequest holds the RFC 8693 §2.1 parameters.
 */
export interface ExchangeRequest {
  /**
   * The calling client's credentials (same methods as the issuer).
   */
  'client'?: (_sts_token_v1_ClientAuthentication | null);
  /**
   * The token that represents the party on whose behalf the request is made.
   */
  'subject_token'?: (string);
  /**
   * urn:ietf:params:oauth:token-type:access_token or ...:jwt.
   */
  'subject_token_type'?: (string);
  /**
   * Optional token representing the acting party.
   */
  'actor_token'?: (string);
  'actor_token_type'?: (string);
  /**
   * Wanted type of the issued token; access_token when empty.
   */
  'requested_token_type'?: (string);
  /**
   * Logical names of target services (repeatable).
   */
  'audience'?: (string)[];
  /**
   * RFC 8707 resource indicators (repeatable).
   */
  'resource'?: (string)[];
  /**
   * Space-delimited requested scope.
   */
  'scope'?: (string);
}

/**
 * ExchangeRequest holds the RFC 8693 §2.1 parameters.
 */
export interface ExchangeRequest__Output {
  /**
   * The calling client's credentials (same methods as the issuer).
   */
  'client': (_sts_token_v1_ClientAuthentication__Output | null);
  /**
   * The token that represents the party on whose behalf the request is made.
   */
  'subject_token': (string);
  /**
   * urn:ietf:params:oauth:token-type:access_token or ...:jwt.
   */
  'subject_token_type': (string);
  /**
   * Optional token representing the acting party.
   */
  'actor_token': (string);
  'actor_token_type': (string);
  /**
   * Wanted type of the issued token; access_token when empty.
   */
  'requested_token_type': (string);
  /**
   * Logical names of target services (repeatable).
   */
  'audience': (string)[];
  /**
   * RFC 8707 resource indicators (repeatable).
   */
  'resource': (string)[];
  /**
   * Space-delimited requested scope.
   */
  'scope': (string);
}
