// Original file: proto/sts/token/v1/token.proto

import type { Actor as _sts_token_v1_Actor, Actor__Output as _sts_token_v1_Actor__Output } from '../../../sts/token/v1/Actor.js';

/**
 * Actor is one link of an RFC 8693 §4.1 delegation chain; `act` nests the
 * previous actor (newest outermost).
 */
export interface Actor {
  'sub'?: (string);
  'act'?: (_sts_token_v1_Actor | null);
}

/**
 * Actor is one link of an RFC 8693 §4.1 delegation chain; `act` nests the
 * previous actor (newest outermost).
 */
export interface Actor__Output {
  'sub': (string);
  'act': (_sts_token_v1_Actor__Output | null);
}
