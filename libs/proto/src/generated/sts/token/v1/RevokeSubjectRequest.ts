// Original file: proto/sts/token/v1/token.proto


/**
 * RevokeSubjectRequest names a subject as the issuer that vouches for it does.
 */
export interface RevokeSubjectRequest {
  /**
   * The issuer that vouches for the subject: this stack's issuer identifier,
   * or a trusted issuer's for a federated subject (the `iss` of the tokens'
   * RFC 9493 sub_id). A provider's subject and this stack's with the same
   * `sub` are different subjects.
   */
  'iss'?: (string);
  /**
   * The subject (`sub`) as that issuer names it.
   */
  'sub'?: (string);
  /**
   * Why, for the audit trail; optional.
   */
  'reason'?: (string);
}

/**
 * RevokeSubjectRequest names a subject as the issuer that vouches for it does.
 */
export interface RevokeSubjectRequest__Output {
  /**
   * The issuer that vouches for the subject: this stack's issuer identifier,
   * or a trusted issuer's for a federated subject (the `iss` of the tokens'
   * RFC 9493 sub_id). A provider's subject and this stack's with the same
   * `sub` are different subjects.
   */
  'iss': (string);
  /**
   * The subject (`sub`) as that issuer names it.
   */
  'sub': (string);
  /**
   * Why, for the audit trail; optional.
   */
  'reason': (string);
}
