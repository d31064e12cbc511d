// Original file: proto/sts/token/v1/token.proto


export interface GetJwksResponse {
  /**
   * The RFC 7517 JWK Set document, JSON-encoded.
   */
  'jwks_json'?: (string);
}

export interface GetJwksResponse__Output {
  /**
   * The RFC 7517 JWK Set document, JSON-encoded.
   */
  'jwks_json': (string);
}
