// Original file: proto/sts/audit/v1/audit.proto


export interface VerifyRequest {
}

export interface VerifyRequest__Output {
}
