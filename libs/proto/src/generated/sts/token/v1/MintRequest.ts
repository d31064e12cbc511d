// Original file: proto/sts/token/v1/token.proto

import type { Actor as _sts_token_v1_Actor, Actor__Output as _sts_token_v1_Actor__Output } from '../../../sts/token/v1/Actor.js';
import type { Long } from '@grpc/proto-loader';

/**
 * MintRequest carries claims computed and authorised by the exchanger.
 */
export interface MintRequest {
  /**
   * The subject, preserved from the subject token; at most 1,024 bytes (what
   * RevokeSubject takes), without control characters, else invalid_request.
   */
  'sub'?: (string);
  /**
   * The client the token is issued to (the caller of the exchange).
   */
  'client_id'?: (string);
  /**
   * Audiences, primary first.
   */
  'audience'?: (string)[];
  /**
   * Granted scope, space-delimited.
   */
  'scope'?: (string);
  /**
   * The new delegation chain; absent for none. Its current (outermost) actor
   * must be client_id, every actor a non-empty client id of at most 256
   * characters, at most exchange.max_depth deep; else invalid_request.
   */
  'act'?: (_sts_token_v1_Actor | null);
  /**
   * Absolute expiry (seconds since epoch) the token must not outlive.
   */
  'not_after'?: (number | string | Long);
  /**
   * jti of the token this one was exchanged from (lineage): the first jti of
   * `lineage`, or <subject_issuer>#<jti> for a trusted issuer's token; empty
   * for none; anything else is invalid_request.
   */
  'parent_jti'?: (string);
  /**
   * RFC 8693 requested_token_type: access_token or jwt URN (empty: access_token);
   * any other is invalid_request. MintResponse.issued_token_type names the type issued.
   */
  'requested_token_type'?: (string);
  /**
   * Event type to record: "token.exchanged" for exchanges.
   */
  'event_type'?: (string);
  /**
   * may_act to carry over from the subject token, as JSON; empty for none.
   */
  'may_act_json'?: (string);
  /**
   * Issuer that vouches for the subject, recorded in the event. When it is not
   * this stack, the token carries it as an RFC 9493 iss_sub sub_id. Only this
   * stack's issuer or a configured trusted issuer is accepted.
   */
  'subject_issuer'?: (string);
  /**
   * jtis of this stack's tokens the new one descends from, nearest first (the
   * subject token's jti, then its own lineage). Written into the token as
   * `lineage`, so revoking any ancestor also revokes the new token.
   */
  'lineage'?: (string)[];
  /**
   * Ids of the policies that allowed the exchange, recorded in its event.
   */
  'policy_ids'?: (string)[];
  /**
   * Revision of the policy set that decided, recorded in the event.
   */
  'policy_revision'?: (number | string | Long);
  /**
   * When the chain this token continues began (seconds since epoch): the
   * subject token's own `origin_iat`, else its `iat`. Written into the token
   * as `origin_iat` (never later than its `iat`), so a subject revocation
   * covers every token of a chain started before it, however late a hop was
   * exchanged. 0 for none.
   */
  'origin_iat'?: (number | string | Long);
  /**
   * The client of this stack the chain began with: the subject token's own
   * `origin_client_id`, else its `client_id`. Written into the token as
   * `origin_client_id`, so revoking that client (RevokeSubject) covers every
   * hop exchanged from a token issued to it, not only that token. Empty for
   * none (another issuer's subject token: its clients are not ours).
   */
  'origin_client_id'?: (string);
  /**
   * kids of this issuer's keys that signed the tokens the new one descends
   * from: the subject token's header `kid` and its own `lineage_kids`, and
   * likewise an actor token's, each once (at most as many as `lineage` has
   * jtis). Written into the token as `lineage_kids`, leaving out the kid that
   * signs it, so withdrawing any of those keys (KeyService.Withdraw) revokes
   * the new token too. Refused when one is already withdrawn. Empty for none
   * (another issuer's subject token: its keys are not ours to withdraw).
   */
  'lineage_kids'?: (string)[];
  /**
   * jti of the actor_token the caller presented (RFC 8693 §2.1), recorded in
   * the event beside the subject token's (parent_jti), so an auditor sees
   * which of the actor's tokens the delegation rested on. Empty for none.
   */
  'actor_jti'?: (string);
}

/**
 * MintRequest carries claims computed and authorised by the exchanger.
 */
export interface MintRequest__Output {
  /**
   * The subject, preserved from the subject token; at most 1,024 bytes (what
   * RevokeSubject takes), without control characters, else invalid_request.
   */
  'sub': (string);
  /**
   * The client the token is issued to (the caller of the exchange).
   */
  'client_id': (string);
  /**
   * Audiences, primary first.
   */
  'audience': (string)[];
  /**
   * Granted scope, space-delimited.
   */
  'scope': (string);
  /**
   * The new delegation chain; absent for none. Its current (outermost) actor
   * must be client_id, every actor a non-empty client id of at most 256
   * characters, at most exchange.max_depth deep; else invalid_request.
   */
  'act': (_sts_token_v1_Actor__Output | null);
  /**
   * Absolute expiry (seconds since epoch) the token must not outlive.
   */
  'not_after': (string);
  /**
   * jti of the token this one was exchanged from (lineage): the first jti of
   * `lineage`, or <subject_issuer>#<jti> for a trusted issuer's token; empty
   * for none; anything else is invalid_request.
   */
  'parent_jti': (string);
  /**
   * RFC 8693 requested_token_type: access_token or jwt URN (empty: access_token);
   * any other is invalid_request. MintResponse.issued_token_type names the type issued.
   */
  'requested_token_type': (string);
  /**
   * Event type to record: "token.exchanged" for exchanges.
   */
  'event_type': (string);
  /**
   * may_act to carry over from the subject token, as JSON; empty for none.
   */
  'may_act_json': (string);
  /**
   * Issuer that vouches for the subject, recorded in the event. When it is not
   * this stack, the token carries it as an RFC 9493 iss_sub sub_id. Only this
   * stack's issuer or a configured trusted issuer is accepted.
   */
  'subject_issuer': (string);
  /**
   * jtis of this stack's tokens the new one descends from, nearest first (the
   * subject token's jti, then its own lineage). Written into the token as
   * `lineage`, so revoking any ancestor also revokes the new token.
   */
  'lineage': (string)[];
  /**
   * Ids of the policies that allowed the exchange, recorded in its event.
   */
  'policy_ids': (string)[];
  /**
   * Revision of the policy set that decided, recorded in the event.
   */
  'policy_revision': (string);
  /**
   * When the chain this token continues began (seconds since epoch): the
   * subject token's own `origin_iat`, else its `iat`. Written into the token
   * as `origin_iat` (never later than its `iat`), so a subject revocation
   * covers every token of a chain started before it, however late a hop was
   * exchanged. 0 for none.
   */
  'origin_iat': (string);
  /**
   * The client of this stack the chain began with: the subject token's own
   * `origin_client_id`, else its `client_id`. Written into the token as
   * `origin_client_id`, so revoking that client (RevokeSubject) covers every
   * hop exchanged from a token issued to it, not only that token. Empty for
   * none (another issuer's subject token: its clients are not ours).
   */
  'origin_client_id': (string);
  /**
   * kids of this issuer's keys that signed the tokens the new one descends
   * from: the subject token's header `kid` and its own `lineage_kids`, and
   * likewise an actor token's, each once (at most as many as `lineage` has
   * jtis). Written into the token as `lineage_kids`, leaving out the kid that
   * signs it, so withdrawing any of those keys (KeyService.Withdraw) revokes
   * the new token too. Refused when one is already withdrawn. Empty for none
   * (another issuer's subject token: its keys are not ours to withdraw).
   */
  'lineage_kids': (string)[];
  /**
   * jti of the actor_token the caller presented (RFC 8693 §2.1), recorded in
   * the event beside the subject token's (parent_jti), so an auditor sees
   * which of the actor's tokens the delegation rested on. Empty for none.
   */
  'actor_jti': (string);
}
