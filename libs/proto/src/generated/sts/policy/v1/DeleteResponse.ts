// Original file: proto/sts/policy/v1/policy.proto


export interface DeleteResponse {
}

export interface DeleteResponse__Output {
}
