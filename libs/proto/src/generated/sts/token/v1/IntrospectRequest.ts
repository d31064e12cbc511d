// Original file: proto/sts/token/v1/token.proto

import type { ClientAuthentication as _sts_token_v1_ClientAuthentication, ClientAuthentication__Output as _sts_token_v1_ClientAuthentication__Output } from '../../../sts/token/v1/ClientAuthentication.js';

/**
 * IntrospectRequest is an RFC 7662 §2.1 request by an authenticated client.
 */
export interface IntrospectRequest {
  'client'?: (_sts_token_v1_ClientAuthentication | null);
  'token'?: (string);
  'token_type_hint'?: (string);
}

/**
 * IntrospectRequest is an RFC 7662 §2.1 request by an authenticated client.
 */
export interface IntrospectRequest__Output {
  'client': (_sts_token_v1_ClientAuthentication__Output | null);
  'token': (string);
  'token_type_hint': (string);
}
