// Original file: proto/sts/token/v1/token.proto


export interface RevokeResponse {
}

export interface RevokeResponse__Output {
}
