// Original file: proto/sts/token/v1/keys.proto


/**
 * ListKeysRequest takes nothing: the issuer has one key ring.
 */
export interface ListKeysRequest {
}

/**
 * ListKeysRequest takes nothing: the issuer has one key ring.
 */
export interface ListKeysRequest__Output {
}
