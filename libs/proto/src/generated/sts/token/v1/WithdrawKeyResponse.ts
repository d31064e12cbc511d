// Original file: proto/sts/token/v1/keys.proto

import type { SigningKeyInfo as _sts_token_v1_SigningKeyInfo, SigningKeyInfo__Output as _sts_token_v1_SigningKeyInfo__Output } from '../../../sts/token/v1/SigningKeyInfo.js';

/**
 * WithdrawKeyResponse is the withdrawn record and the key that signs now.
 */
export interface WithdrawKeyResponse {
  /**
   * The key as withdrawn (state `withdrawn`); for a repeat, the earlier record.
   */
  'key'?: (_sts_token_v1_SigningKeyInfo | null);
  /**
   * The key id that signs new tokens from now on.
   */
  'successor'?: (string);
}

/**
 * WithdrawKeyResponse is the withdrawn record and the key that signs now.
 */
export interface WithdrawKeyResponse__Output {
  /**
   * The key as withdrawn (state `withdrawn`); for a repeat, the earlier record.
   */
  'key': (_sts_token_v1_SigningKeyInfo__Output | null);
  /**
   * The key id that signs new tokens from now on.
   */
  'successor': (string);
}
