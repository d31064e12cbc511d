// Original file: proto/sts/token/v1/keys.proto

import type { SigningKeyInfo as _sts_token_v1_SigningKeyInfo, SigningKeyInfo__Output as _sts_token_v1_SigningKeyInfo__Output } from '../../../sts/token/v1/SigningKeyInfo.js';

/**
 * ListKeysResponse holds the keys, oldest first.
 */
export interface ListKeysResponse {
  'keys'?: (_sts_token_v1_SigningKeyInfo)[];
}

/**
 * ListKeysResponse holds the keys, oldest first.
 */
export interface ListKeysResponse__Output {
  'keys': (_sts_token_v1_SigningKeyInfo__Output)[];
}
