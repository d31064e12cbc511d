// Original file: proto/sts/policy/v1/policy.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Policy is one Cedar policy (a single permit or forbid statement).
 */
export interface Policy {
  'id'?: (string);
  /**
   * Cedar policy text.
   */
  'text'?: (string);
  'description'?: (string);
  /**
   * KV revision, set by the server.
   */
  'revision'?: (number | string | Long);
}

/**
 * Policy is one Cedar policy (a single permit or forbid statement).
 */
export interface Policy__Output {
  'id': (string);
  /**
   * Cedar policy text.
   */
  'text': (string);
  'description': (string);
  /**
   * KV revision, set by the server.
   */
  'revision': (string);
}
