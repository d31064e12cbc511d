// Original file: proto/sts/token/v1/keys.proto

import type { Long } from '@grpc/proto-loader';

/**
 * SigningKeyInfo is what an operator sees of one signing key: its identity,
 * its life cycle, and for a withdrawn key who withdrew it and why.
 */
export interface SigningKeyInfo {
  /**
   * The key id tokens carry in their `kid` header and the JWKS lists.
   */
  'kid'?: (string);
  /**
   * The JWS algorithm it signs with (ES256, EdDSA, RS256, PS256).
   */
  'alg'?: (string);
  /**
   * When the key was made, seconds since epoch (0 for a key from keys.jwk_file).
   */
  'created_at'?: (number | string | Long);
  /**
   * When the key starts (or started) signing, seconds since epoch (0 for a key
   * from keys.jwk_file).
   */
  'activate_at'?: (number | string | Long);
  /**
   * Where the key is in its life, one of: `upcoming` (published so that
   * verifiers learn it, not yet signing), `signing` (new tokens are signed
   * with it), `verifying` (no longer signing, published until the tokens it
   * signed have expired), `withdrawn` (neither signs nor verifies).
   */
  'state'?: (string);
  /**
   * When it was withdrawn, seconds since epoch; 0 unless withdrawn.
   */
  'withdrawn_at'?: (number | string | Long);
  /**
   * The client id of the operator who withdrew it; empty unless withdrawn.
   */
  'withdrawn_by'?: (string);
  /**
   * Why it was withdrawn, as the operator gave it; empty unless withdrawn.
   */
  'reason'?: (string);
}

/**
 * SigningKeyInfo is what an operator sees of one signing key: its identity,
 * its life cycle, and for a withdrawn key who withdrew it and why.
 */
export interface SigningKeyInfo__Output {
  /**
   * The key id tokens carry in their `kid` header and the JWKS lists.
   */
  'kid': (string);
  /**
   * The JWS algorithm it signs with (ES256, EdDSA, RS256, PS256).
   */
  'alg': (string);
  /**
   * When the key was made, seconds since epoch (0 for a key from keys.jwk_file).
   */
  'created_at': (string);
  /**
   * When the key starts (or started) signing, seconds since epoch (0 for a key
   * from keys.jwk_file).
   */
  'activate_at': (string);
  /**
   * Where the key is in its life, one of: `upcoming` (published so that
   * verifiers learn it, not yet signing), `signing` (new tokens are signed
   * with it), `verifying` (no longer signing, published until the tokens it
   * signed have expired), `withdrawn` (neither signs nor verifies).
   */
  'state': (string);
  /**
   * When it was withdrawn, seconds since epoch; 0 unless withdrawn.
   */
  'withdrawn_at': (string);
  /**
   * The client id of the operator who withdrew it; empty unless withdrawn.
   */
  'withdrawn_by': (string);
  /**
   * Why it was withdrawn, as the operator gave it; empty unless withdrawn.
   */
  'reason': (string);
}
