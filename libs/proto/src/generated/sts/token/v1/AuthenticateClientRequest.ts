// Original file: proto/sts/token/v1/token.proto

import type { ClientAuthentication as _sts_token_v1_ClientAuthentication, ClientAuthentication__Output as _sts_token_v1_ClientAuthentication__Output } from '../../../sts/token/v1/ClientAuthentication.js';

export interface AuthenticateClientRequest {
  'client'?: (_sts_token_v1_ClientAuthentication | null);
}

export interface AuthenticateClientRequest__Output {
  'client': (_sts_token_v1_ClientAuthentication__Output | null);
}
