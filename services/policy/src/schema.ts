/**
 * The Cedar schema of exchange decisions. Principal: the calling client;
 * resource: the target audience; two actions: `exchange` (may the client
 * exchange for this audience at all) and `request_scope` (may it obtain one
 * scope, `context.scope`, for this audience). Context carries the subject
 * token's claims, the requested scopes, the chain depth and the actors.
 */

/** The schema in Cedar's human-readable syntax. */
export const CEDAR_SCHEMA = `
entity Client;
entity Audience;

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
    requested_scopes: Set<String>,
    depth: Long,
    actors: Set<String>,
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
    scope: String,
  },
};
`;

/** Annotations the engine reads from permit policies. */
export const ANNOTATIONS = {
  /** Scopes granted when the request names none (space-delimited). */
  DEFAULT_SCOPE: "default_scope",
  /** Largest delegation chain depth. */
  MAX_DEPTH: "max_depth",
} as const;
