// Original file: proto/sts/token/v1/token.proto


export interface UserInfoResponse {
  /**
   * The claims, JSON-encoded (OIDC Core §5.3.2): sub always, then what the token's scopes release.
   */
  'claims_json'?: (string);
}

export interface UserInfoResponse__Output {
  /**
   * The claims, JSON-encoded (OIDC Core §5.3.2): sub always, then what the token's scopes release.
   */
  'claims_json': (string);
}
