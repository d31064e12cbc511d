/**
 * Subject revocation ("sign this user out everywhere"): an operator revokes
 * every token of one subject issued until now. The record goes to the
 * revocations bucket every verifier watches (isTokenRevoked of @sts/jwt reads
 * it for each token, so exchanged tokens down every chain, which keep `sub`,
 * are caught too), and the refresh grant refuses families started before it.
 * Tokens issued later are untouched: the user may come back.
 *
 * The operator is a client of this stack presenting its own access token,
 * checked as the policy and audit APIs check theirs (callerAuthenticator of
 * @sts/mesh): `subject_revocation.api_audience`, `subject_revocation.scope`,
 * `sub == client_id`, no `act`. There is no break-glass credential here: an
 * issuer that cannot issue the operator a token cannot sign anything either.
 * The exchanger, an internal caller, relays a trusted provider's OpenID
 * Connect back-channel logout here: it may revoke that provider's subjects,
 * never this stack's own.
 *
 * The call answers once the record is in KV and its `subject.revoked` event
 * is in JetStream. The record is written first: an event that then fails
 * leaves the subject revoked (the safe side) and the call answering
 * temporarily_unavailable; the retry writes the same record (revoked_at never
 * moves back) and publishes the same event id when made in the same second,
 * a new event when later, which JetStream and the audit projection each
 * store once.
 */
import { createHash } from "node:crypto";
import type { Metadata } from "@grpc/grpc-js";
import { invalidRequest, unauthorizedClient } from "@sts/errors";
import type { CallerIdentity } from "@sts/mesh";
import { EVENT_TYPES } from "@sts/nats";
import type { EventPublisher } from "@sts/nats";
import type { RevocationList, SubjectRevocationRecord } from "@sts/revocation";
import type { RevokeSubjectRequest__Output, RevokeSubjectResponse } from "@sts/proto";

/** Longest `iss` or `sub` accepted, in characters: longer than any identifier a token here carries within max_token_bytes. */
export const MAX_SUBJECT_CHARS = 1024;

/** Longest `reason` accepted, in characters: a note for the audit trail, not a document. */
export const MAX_REASON_CHARS = 512;

/** What RevokeSubject needs. */
export interface SubjectRevocationDeps {
  /** This stack's issuer identifier: its subjects are for operators to revoke, never for a relayed logout. */
  issuer: string;
  /** Issuers that may vouch for a subject here: this stack and exchange.trusted_issuers. */
  subjectIssuers: readonly string[];
  revocations: RevocationList;
  events: EventPublisher;
  now: () => number;
  /**
   * Seconds after its revocation a token it covers may still be presented: the longest access or refresh token
   * lifetime (a day at least, which also covers a trusted provider's usual access tokens) plus the clock tolerance.
   * The record's `exp`: verifiers hold it in memory until then, and the bucket longer.
   */
  coversSeconds: number;
  /** Names the operator, or refuses the call (invalid_token, insufficient_scope). */
  authenticate: (metadata: Metadata) => Promise<CallerIdentity>;
}

/** A RevokeSubject request, validated. */
export interface SubjectToRevoke {
  iss: string;
  sub: string;
  reason?: string;
}

/** CloudEvents `data` of `subject.revoked`: who is revoked, since when, by whom; never a token. */
export interface SubjectRevokedData {
  iss: string;
  /** The revoked subject (so `stsctl audit query --sub` finds the revocation). */
  sub: string;
  revoked_at: number;
  /** The operator's client id; also `client_id`, so `--client <operator>` finds what it did. */
  by: string;
  client_id: string;
  /** The jti of the operator's access token, to tell its sessions apart. */
  operator_jti: string;
  reason?: string;
}

/** A present string of at most `max` characters (protobuf decoding already made it well-formed Unicode). */
function identifier(value: string, name: string, max: number): string {
  if (value.length === 0) throw invalidRequest(`${name} is required`);
  if (value.length > max) throw invalidRequest(`${name} is longer than ${max} characters`);
  return value;
}

/** Validates a request: a subject of this stack or of a trusted issuer; invalid_request otherwise, naming the field but never echoing it. */
export function parseRevokeSubject(req: RevokeSubjectRequest__Output, subjectIssuers: readonly string[]): SubjectToRevoke {
  const iss = identifier(req.iss, "iss", MAX_SUBJECT_CHARS);
  if (!subjectIssuers.includes(iss)) throw invalidRequest("iss is neither this issuer nor a trusted issuer");
  const sub = identifier(req.sub, "sub", MAX_SUBJECT_CHARS);
  return req.reason ? { iss, sub, reason: identifier(req.reason, "reason", MAX_REASON_CHARS) } : { iss, sub };
}

/** The event id of a stored record: a retry that stores the same record publishes the same event, stored once. */
function eventIdOf(record: SubjectRevocationRecord): string {
  const digest = createHash("sha256").update(JSON.stringify([record.iss, record.sub, record.revoked_at, record.by, record.reason ?? ""]));
  return `subject.revoked.${digest.digest("base64url")}`;
}

/**
 * Handles RevokeSubject: authenticates the operator (or takes the internal client that relays a provider's logout,
 * already authenticated by the caller), validates, stores the revocation, then its event.
 */
export async function revokeSubject(
  req: RevokeSubjectRequest__Output,
  metadata: Metadata,
  deps: SubjectRevocationDeps,
  relayedBy?: string,
): Promise<RevokeSubjectResponse> {
  const operator = relayedBy === undefined ? await deps.authenticate(metadata) : { client_id: relayedBy, jti: "" };
  const subject = parseRevokeSubject(req, deps.subjectIssuers);
  if (relayedBy !== undefined && subject.iss === deps.issuer) {
    throw unauthorizedClient("an internal caller relays a trusted issuer's logout only: this stack's subjects are revoked by operators");
  }
  // Never earlier than a revocation already stored (another replica's clock a little ahead): a retry covers as much.
  const stored = await deps.revocations.storedSubjectRevokedAt(subject.iss, subject.sub);
  const revokedAt = Math.max(deps.now(), stored ?? 0);
  const record: SubjectRevocationRecord = {
    ...subject,
    revoked_at: revokedAt,
    exp: revokedAt + deps.coversSeconds,
    by: operator.client_id,
  };
  await deps.revocations.revokeSubject(record);
  const data: SubjectRevokedData = {
    iss: record.iss,
    sub: record.sub,
    revoked_at: record.revoked_at,
    by: record.by,
    client_id: operator.client_id,
    operator_jti: operator.jti,
    ...(record.reason !== undefined && { reason: record.reason }),
  };
  await deps.events.publish(EVENT_TYPES.SUBJECT_REVOKED, data, { id: eventIdOf(record) });
  return { revoked_at: String(revokedAt) };
}
