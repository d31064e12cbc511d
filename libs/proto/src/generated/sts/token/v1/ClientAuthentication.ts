// Original file: proto/sts/token/v1/token.proto


/**
 * ClientAuthentication carries the client credentials exactly as presented at
 * the HTTP edge, so that the issuer, which owns the registry, decides. Exactly
 * one method may be used per request (RFC 6749 §2.3).
 */
export interface ClientAuthentication {
  /**
   * The raw HTTP Authorization header (client_secret_basic), if any.
   */
  'authorization'?: (string);
  /**
   * client_id body parameter (client_secret_post, private_key_jwt, or none).
   */
  'client_id'?: (string);
  /**
   * client_secret body parameter (client_secret_post).
   */
  'client_secret'?: (string);
  /**
   * RFC 7521 §4.2 client_assertion_type.
   */
  'client_assertion_type'?: (string);
  /**
   * RFC 7521 §4.2 client_assertion (a JWT signed by the client).
   */
  'client_assertion'?: (string);
  /**
   * The endpoint URL the credentials were sent to. Not the audience an
   * assertion must name: that is the issuer identifier at every endpoint
   * (or also the token endpoint URL, with tokens.assertion_audience:
   * issuer_or_token_endpoint).
   */
  'endpoint'?: (string);
}

/**
 * ClientAuthentication carries the client credentials exactly as presented at
 * the HTTP edge, so that the issuer, which owns the registry, decides. Exactly
 * one method may be used per request (RFC 6749 §2.3).
 */
export interface ClientAuthentication__Output {
  /**
   * The raw HTTP Authorization header (client_secret_basic), if any.
   */
  'authorization': (string);
  /**
   * client_id body parameter (client_secret_post, private_key_jwt, or none).
   */
  'client_id': (string);
  /**
   * client_secret body parameter (client_secret_post).
   */
  'client_secret': (string);
  /**
   * RFC 7521 §4.2 client_assertion_type.
   */
  'client_assertion_type': (string);
  /**
   * RFC 7521 §4.2 client_assertion (a JWT signed by the client).
   */
  'client_assertion': (string);
  /**
   * The endpoint URL the credentials were sent to. Not the audience an
   * assertion must name: that is the issuer identifier at every endpoint
   * (or also the token endpoint URL, with tokens.assertion_audience:
   * issuer_or_token_endpoint).
   */
  'endpoint': (string);
}
