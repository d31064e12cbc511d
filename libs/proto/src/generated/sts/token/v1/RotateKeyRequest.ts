// Original file: proto/sts/token/v1/keys.proto


/**
 * RotateKeyRequest takes nothing: the successor is made for the current
 * signing key, with the configured algorithm (keys.algorithm).
 */
export interface RotateKeyRequest {
}

/**
 * RotateKeyRequest takes nothing: the successor is made for the current
 * signing key, with the configured algorithm (keys.algorithm).
 */
export interface RotateKeyRequest__Output {
}
