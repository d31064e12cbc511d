// Original file: proto/sts/policy/v1/policy.proto


export interface ListRequest {
}

export interface ListRequest__Output {
}
