/**
 * The Cedar schema of exchange decisions. Principal: the authenticated
 * calling client; resource: the target audience; two actions: `exchange`
 * (may the client exchange for this audience at all) and `request_scope`
 * (may it obtain one scope, `context.scope`, for this audience). Entities
 * carry no attributes or parents: everything a policy may look at travels in
 * the context, so a decision never depends on an entity store that could be
 * stale.
 *
 * The text form is the one operators read; every cedar-wasm call that takes
 * a schema (`validate`, `preparseSchema`, `isAuthorized`) accepts it as is,
 * so no second (JSON) copy is kept that could drift from it.
 */
import { isWellFormed } from "@sts/errors";
import { MAX_DECISION_LIST_LENGTH, MAX_DECISION_NAME_LENGTH } from "@sts/scopes";

/** Cedar entity type names used as principal and resource. */
export const ENTITY_TYPES = {
  /** The authenticated client asking for the exchange: `Client::"<client_id>"`. */
  CLIENT: "Client",
  /** The audience the new token is for: `Audience::"<aud>"`. */
  AUDIENCE: "Audience",
} as const;

/** Cedar action ids (entity type `Action`). */
export const ACTIONS = {
  /** May the client exchange a subject token for this audience at all. */
  EXCHANGE: "exchange",
  /** May the client obtain the one scope in `context.scope` for this audience. */
  REQUEST_SCOPE: "request_scope",
} as const;

/** One of {@link ACTIONS}. */
export type ActionId = (typeof ACTIONS)[keyof typeof ACTIONS];

/** Annotations the engine reads from `exchange` permits. */
export const ANNOTATIONS = {
  /** Policy id; when present it should equal the id the policy is stored under. */
  ID: "id",
  /** Scopes granted when the request names none (space-delimited scope tokens). */
  DEFAULT_SCOPE: "default_scope",
  /** Largest delegation chain depth (a whole number ≥ 1). */
  MAX_DEPTH: "max_depth",
  /**
   * Structured scopes (space-delimited) a request for a broader path may be narrowed to: asked `read:/data` where only
   * `read:/data/cern` is allowed, the grant is `read:/data/cern` (the meet of the two), if `request_scope` allows it.
   */
  NARROW_TO: "narrow_to",
  /**
   * `"true"`: the permit lets a caller present a subject token it is not an audience of. Without it on some deciding
   * permit, the engine denies such a caller whatever the conditions say (RFC 8693 §2.1: opting out is explicit).
   */
  ANY_PRESENTER: "any_presenter",
} as const;

/** Longest client id, audience, actor, `sub`, `iss` or scope a decision request may carry, in characters. */
export const MAX_NAME_LENGTH = MAX_DECISION_NAME_LENGTH;
/** Most entries in any list of a decision request (scopes, audiences, actors). */
export const MAX_LIST_LENGTH = MAX_DECISION_LIST_LENGTH;

/** True when `s` holds an unpaired UTF-16 surrogate: no Cedar string can hold one (cedar-wasm throws on it). */
export function hasLoneSurrogate(s: string): boolean {
  return !isWellFormed(s);
}

/** The schema in Cedar's human-readable syntax. */
export const CEDAR_SCHEMA = `// Exchange decisions: may Client X exchange a subject token for Audience Y, and with which scopes.
entity Client;
entity Audience;

// Claims of the subject token being exchanged.
type Subject = {
  sub: String,
  client_id: String,
  iss: String,
  scopes: Set<String>,
  audience: Set<String>,
};

action "exchange" appliesTo {
  principal: [Client],
  resource: [Audience],
  context: {
    subject: Subject,
    // Scopes asked for (already within the subject token's scope); empty when none.
    requested_scopes: Set<String>,
    // Delegation chain depth of the token to be issued: 1 for the first exchange.
    depth: Long,
    // Client ids already in the act chain.
    actors: Set<String>,
    // Whether the caller is in the subject token's audience (RFC 8693 section 2.1).
    caller_in_audience: Bool,
  },
};

action "request_scope" appliesTo {
  principal: [Client],
  resource: [Audience],
  context: {
    subject: Subject,
    requested_scopes: Set<String>,
    depth: Long,
    actors: Set<String>,
    caller_in_audience: Bool,
    // The one scope being decided.
    scope: String,
  },
};
`;
