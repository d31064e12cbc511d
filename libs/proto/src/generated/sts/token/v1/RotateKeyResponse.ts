// Original file: proto/sts/token/v1/keys.proto

import type { Long } from '@grpc/proto-loader';

/**
 * RotateKeyResponse names the successor.
 */
export interface RotateKeyResponse {
  /**
   * The successor's key id (already published).
   */
  'kid'?: (string);
  /**
   * When it starts signing, seconds since epoch; the current key signs until then.
   */
  'activate_at'?: (number | string | Long);
  /**
   * True when this call made the key, false when a waiting successor was returned.
   */
  'created'?: (boolean);
}

/**
 * RotateKeyResponse names the successor.
 */
export interface RotateKeyResponse__Output {
  /**
   * The successor's key id (already published).
   */
  'kid': (string);
  /**
   * When it starts signing, seconds since epoch; the current key signs until then.
   */
  'activate_at': (string);
  /**
   * True when this call made the key, false when a waiting successor was returned.
   */
  'created': (boolean);
}
