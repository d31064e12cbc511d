// Original file: proto/sts/token/v1/keys.proto


/**
 * WithdrawKeyRequest names the key and the reason, both required.
 */
export interface WithdrawKeyRequest {
  /**
   * The key id to withdraw, as List shows it.
   */
  'kid'?: (string);
  /**
   * Why (at most 512 characters): recorded on the key and in the key.withdrawn
   * event for the audit trail.
   */
  'reason'?: (string);
}

/**
 * WithdrawKeyRequest names the key and the reason, both required.
 */
export interface WithdrawKeyRequest__Output {
  /**
   * The key id to withdraw, as List shows it.
   */
  'kid': (string);
  /**
   * Why (at most 512 characters): recorded on the key and in the key.withdrawn
   * event for the audit trail.
   */
  'reason': (string);
}
