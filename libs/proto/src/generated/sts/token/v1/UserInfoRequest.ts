// Original file: proto/sts/token/v1/token.proto


export interface UserInfoRequest {
  /**
   * The bearer access token (RFC 6750).
   */
  'access_token'?: (string);
}

export interface UserInfoRequest__Output {
  /**
   * The bearer access token (RFC 6750).
   */
  'access_token': (string);
}
