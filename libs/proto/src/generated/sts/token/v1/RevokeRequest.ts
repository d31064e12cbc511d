// Original file: proto/sts/token/v1/token.proto

import type { ClientAuthentication as _sts_token_v1_ClientAuthentication, ClientAuthentication__Output as _sts_token_v1_ClientAuthentication__Output } from '../../../sts/token/v1/ClientAuthentication.js';

/**
 * RevokeRequest is an RFC 7009 §2.1 request by an authenticated client.
 */
export interface RevokeRequest {
  'client'?: (_sts_token_v1_ClientAuthentication | null);
  'token'?: (string);
  'token_type_hint'?: (string);
}

/**
 * RevokeRequest is an RFC 7009 §2.1 request by an authenticated client.
 */
export interface RevokeRequest__Output {
  'client': (_sts_token_v1_ClientAuthentication__Output | null);
  'token': (string);
  'token_type_hint': (string);
}
