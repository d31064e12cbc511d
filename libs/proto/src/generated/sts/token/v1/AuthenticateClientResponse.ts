// Original file: proto/sts/token/v1/token.proto


export interface AuthenticateClientResponse {
  'client_id'?: (string);
}

export interface AuthenticateClientResponse__Output {
  'client_id': (string);
}
