// Original file: proto/sts/token/v1/token.proto

import type { Actor as _sts_token_v1_Actor, Actor__Output as _sts_token_v1_Actor__Output } from '../../../sts/token/v1/Actor.js';
import type { Long } from '@grpc/proto-loader';

/**
 * IntrospectResponse is RFC 7662 §2.2. When active is false nothing else is set.
 */
export interface IntrospectResponse {
  'active'?: (boolean);
  'scope'?: (string);
  'client_id'?: (string);
  'sub'?: (string);
  'aud'?: (string)[];
  'exp'?: (number | string | Long);
  'iat'?: (number | string | Long);
  'iss'?: (string);
  'jti'?: (string);
  'token_type'?: (string);
  'act'?: (_sts_token_v1_Actor | null);
  'nbf'?: (number | string | Long);
  /**
   * Set when another (trusted) issuer vouches for sub: the token's RFC 9493
   * iss_sub sub_id issuer. Empty for this stack's own subjects.
   */
  'subject_issuer'?: (string);
}

/**
 * IntrospectResponse is RFC 7662 §2.2. When active is false nothing else is set.
 */
export interface IntrospectResponse__Output {
  'active': (boolean);
  'scope': (string);
  'client_id': (string);
  'sub': (string);
  'aud': (string)[];
  'exp': (string);
  'iat': (string);
  'iss': (string);
  'jti': (string);
  'token_type': (string);
  'act': (_sts_token_v1_Actor__Output | null);
  'nbf': (string);
  /**
   * Set when another (trusted) issuer vouches for sub: the token's RFC 9493
   * iss_sub sub_id issuer. Empty for this stack's own subjects.
   */
  'subject_issuer': (string);
}
