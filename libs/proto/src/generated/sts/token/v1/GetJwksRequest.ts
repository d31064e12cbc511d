// Original file: proto/sts/token/v1/token.proto


export interface GetJwksRequest {
}

export interface GetJwksRequest__Output {
}
