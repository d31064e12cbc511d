// Original file: proto/sts/audit/v1/audit.proto


export interface LineageRequest {
  /**
   * A token's jti. An ID token's answers as the access token it was handed
   * out with.
   */
  'jti'?: (string);
}

export interface LineageRequest__Output {
  /**
   * A token's jti. An ID token's answers as the access token it was handed
   * out with.
   */
  'jti': (string);
}
