// Original file: proto/sts/policy/v1/policy.proto


/**
 * Author names the operator who wrote a policy version, as the
 * policy.updated event of that version does; never the credential itself.
 */
export interface Author {
  /**
   * How the operator proved who it was: access_token, or break_glass for the
   * shared STS_POLICY_ADMIN_TOKEN.
   */
  'credential'?: (string);
  /**
   * The access token's sub; "break-glass" for the shared credential.
   */
  'sub'?: (string);
  /**
   * The access token's client_id; empty for the shared credential.
   */
  'client_id'?: (string);
  /**
   * The access token's jti; empty for the shared credential.
   */
  'jti'?: (string);
}

/**
 * Author names the operator who wrote a policy version, as the
 * policy.updated event of that version does; never the credential itself.
 */
export interface Author__Output {
  /**
   * How the operator proved who it was: access_token, or break_glass for the
   * shared STS_POLICY_ADMIN_TOKEN.
   */
  'credential': (string);
  /**
   * The access token's sub; "break-glass" for the shared credential.
   */
  'sub': (string);
  /**
   * The access token's client_id; empty for the shared credential.
   */
  'client_id': (string);
  /**
   * The access token's jti; empty for the shared credential.
   */
  'jti': (string);
}
