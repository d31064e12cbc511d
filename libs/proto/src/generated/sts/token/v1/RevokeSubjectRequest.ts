// Original file: proto/sts/token/v1/token.proto

import type { Long } from '@grpc/proto-loader';

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
  /**
   * The moment the subject signed out (seconds since epoch, on the clock of
   * the issuer that vouches for it): tokens of chains begun at or before it,
   * plus the clock tolerance, are revoked. 0 means now; a time ahead of now
   * is taken as now. The exchanger sets it to a logout token's `iat`, so a
   * logout the provider retries, or relayed late, does not also sign out a
   * session the user began after signing out.
   */
  'signed_out_at'?: (number | string | Long);
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
  /**
   * The moment the subject signed out (seconds since epoch, on the clock of
   * the issuer that vouches for it): tokens of chains begun at or before it,
   * plus the clock tolerance, are revoked. 0 means now; a time ahead of now
   * is taken as now. The exchanger sets it to a logout token's `iat`, so a
   * logout the provider retries, or relayed late, does not also sign out a
   * session the user began after signing out.
   */
  'signed_out_at': (string);
}
