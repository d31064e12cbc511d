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
 * @sts/mesh): `issuer_admin.api_audience`, `issuer_admin.revoke_subjects_scope`,
 * `sub == client_id`, no `act`. There is no break-glass credential here: an
 * issuer that cannot issue the operator a token cannot sign anything either.
 * The exchanger, an internal caller, relays a trusted provider's OpenID
 * Connect back-channel logout here: it may revoke that provider's subjects,
 * never this stack's own.
 *
 * `revoked_at` is this replica's clock plus the clock tolerance: replicas
 * stamp `iat` with their own clocks, and a verifier accepts an `iat` up to
 * the tolerance ahead of its own, so a token stamped just before the call by
 * a replica whose clock runs a little fast is covered too. The price: tokens
 * of the subject issued within the tolerance after the call are revoked as
 * well (the user coming back at once has to sign in again after it).
 *
 * The call answers once the record is in KV and its `subject.revoked` event
 * is in JetStream. The record is written first: an event that then fails
 * leaves the subject revoked (the safe side) and the call answering
 * temporarily_unavailable; the retry writes the same record (revoked_at never
 * moves back) and publishes the same event id when made in the same second,
 * a new event when later, which JetStream and the audit projection each
 * store once. "Never moves back" holds across replicas revoking the same
 * subject at once: the record is written with a compare-and-set against the
 * revision read, and read again when another write came first.
 */
import { parseReason } from "./operator-reason.js";
import type { Metadata } from "@grpc/grpc-js";
import { invalidRequest, isCleanText, unauthorizedClient, unavailable } from "@sts/errors";
import type { CallerIdentity } from "@sts/mesh";
import { MAX_SUBJECT_BYTES } from "@sts/jwt";
import { EVENT_TYPES, recordEventId } from "@sts/nats";
import type { EventPublisher } from "@sts/nats";
import type { RevocationList, SubjectRevocationRecord } from "@sts/revocation";
import type { RevokeSubjectRequest__Output, RevokeSubjectResponse } from "@sts/proto";

/** Writes tried against other calls revoking the same subject at once, before giving up (temporarily_unavailable: retry). */
const WRITE_ATTEMPTS = 5;

/** What RevokeSubject needs. */
export interface SubjectRevocationDeps {
  /**
   * The trusted issuers configured with `backchannel_logout`: the only ones whose subjects an internal caller may
   * revoke (relaying their logout). This stack's subjects are for operators only.
   */
  relayIssuers: readonly string[];
  /** Issuers that may vouch for a subject here: this stack and exchange.trusted_issuers. */
  subjectIssuers: readonly string[];
  /** The revocations bucket: read and written with a compare-and-set. */
  revocations: Pick<RevocationList, "storedSubjectRevocation" | "revokeSubject">;
  events: EventPublisher;
  now: () => number;
  /** config `tokens.clock_tolerance` (seconds): added to the revocation time, so tokens stamped by a fast clock are covered. */
  clockTolerance: number;
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
  /** When the subject signed out (seconds), if not now: a relayed logout's `iat`. */
  signedOutAt?: number;
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

/**
 * A present string of at most `max` characters or, with `bytes`, UTF-8 bytes, without control characters: no token of
 * this stack names such a subject (the grants and the exchanger refuse them), so the record would revoke nothing, and
 * its `subject.revoked` event would carry them to auditors' terminals (protobuf decoding already made it well-formed).
 */
function identifier(value: string, name: string, max: number, unit: "characters" | "bytes" = "characters"): string {
  if (value.length === 0) throw invalidRequest(`${name} is required`);
  if ((unit === "bytes" ? Buffer.byteLength(value, "utf8") : value.length) > max) throw invalidRequest(`${name} is longer than ${max} ${unit}`);
  if (!isCleanText(value)) throw invalidRequest(`${name} holds a control character`);
  return value;
}

/** Validates a request: a subject of this stack or of a trusted issuer; invalid_request otherwise, naming the field but never echoing it. */
export function parseRevokeSubject(req: RevokeSubjectRequest__Output, subjectIssuers: readonly string[]): SubjectToRevoke {
  const iss = identifier(req.iss, "iss", MAX_SUBJECT_BYTES, "bytes");
  if (!subjectIssuers.includes(iss)) throw invalidRequest("iss is neither this issuer nor a trusted issuer");
  const sub = identifier(req.sub, "sub", MAX_SUBJECT_BYTES, "bytes");
  const reason = parseReason(req.reason, false);
  const signedOutAt = parseSignedOutAt(req.signed_out_at);
  return { iss, sub, ...(reason !== undefined && { reason }), ...(signedOutAt !== undefined && { signedOutAt }) };
}

/** `signed_out_at` (an int64, decoded as a decimal string): undefined for 0 (now); invalid_request when negative. */
function parseSignedOutAt(value: string): number | undefined {
  const at = Number(value);
  if (!Number.isSafeInteger(at) || at < 0) throw invalidRequest("signed_out_at must be seconds since the epoch, or 0 for now");
  return at === 0 ? undefined : at;
}

/**
 * Stores the subject's revocation: at the time the subject signed out (now, or an earlier `signedOutAt`) plus the
 * clock tolerance, and never earlier than one already stored (another replica's clock a little ahead, or a retry),
 * written with a compare-and-set. A sign-out time given is kept as given, however late the call: a logout the
 * provider retries minutes later must not also revoke the session the user began since.
 */
async function storeRevocation(subject: SubjectToRevoke, by: string, deps: SubjectRevocationDeps): Promise<SubjectRevocationRecord> {
  for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    const stored = await deps.revocations.storedSubjectRevocation(subject.iss, subject.sub);
    const now = deps.now();
    const signedOutAt = Math.min(subject.signedOutAt ?? now, now);
    const revokedAt = Math.max(signedOutAt + deps.clockTolerance, stored.revokedAt ?? 0);
    const record: SubjectRevocationRecord = {
      iss: subject.iss,
      sub: subject.sub,
      ...(subject.reason !== undefined && { reason: subject.reason }),
      revoked_at: revokedAt,
      exp: revokedAt + deps.coversSeconds,
      by,
    };
    if (await deps.revocations.revokeSubject(record, stored.revision)) return record;
  }
  throw unavailable("the subject's revocation kept being written by other calls at the same time; retry");
}

/** The event id of a stored record: a retry that stores the same record publishes the same event, stored once. */
function eventIdOf(record: SubjectRevocationRecord): string {
  return recordEventId(EVENT_TYPES.SUBJECT_REVOKED, [record.iss, record.sub, record.revoked_at, record.by, record.reason ?? ""]);
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
  if (relayedBy !== undefined && !deps.relayIssuers.includes(subject.iss)) {
    throw unauthorizedClient("an internal caller relays the logout of a trusted issuer configured with backchannel_logout only");
  }
  return { revoked_at: String(await recordSubjectRevocation(subject, operator, deps)) };
}

/** Stores a subject's revocation in `operator`'s name, then its `subject.revoked` event; returns revoked_at. */
export async function recordSubjectRevocation(
  subject: SubjectToRevoke,
  operator: Pick<CallerIdentity, "client_id" | "jti">,
  deps: SubjectRevocationDeps,
): Promise<number> {
  const record = await storeRevocation(subject, operator.client_id, deps);
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
  return record.revoked_at;
}
