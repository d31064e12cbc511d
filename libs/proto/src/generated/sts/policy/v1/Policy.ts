// Original file: proto/sts/policy/v1/policy.proto

import type { Author as _sts_policy_v1_Author, Author__Output as _sts_policy_v1_Author__Output } from '../../../sts/policy/v1/Author.js';
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
  /**
   * Who wrote this version, set by the server (ignored in Put and Validate):
   * the operator of a Put, or of the Reset that handed it back to the config
   * file; absent for a version seeded from the config file's hops at start.
   */
  'author'?: (_sts_policy_v1_Author | null);
  /**
   * Who manages it, set by the server (ignored in Put and Validate): "config"
   * when it follows the config file's hops (seeded from them, or handed back
   * by Reset), so a later edit of the hop applies at the next start; "api"
   * when an operator's Put wrote it and the config file no longer changes it.
   */
  'source'?: (string);
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
  /**
   * Who wrote this version, set by the server (ignored in Put and Validate):
   * the operator of a Put, or of the Reset that handed it back to the config
   * file; absent for a version seeded from the config file's hops at start.
   */
  'author': (_sts_policy_v1_Author__Output | null);
  /**
   * Who manages it, set by the server (ignored in Put and Validate): "config"
   * when it follows the config file's hops (seeded from them, or handed back
   * by Reset), so a later edit of the hop applies at the next start; "api"
   * when an operator's Put wrote it and the config file no longer changes it.
   */
  'source': (string);
}
