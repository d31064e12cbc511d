// Original file: proto/spiffe/workload/workload.proto


/**
 * X509SVIDRequest has no parameters.
 */
export interface X509SVIDRequest {
}

/**
 * X509SVIDRequest has no parameters.
 */
export interface X509SVIDRequest__Output {
}
