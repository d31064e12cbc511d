/**
 * Signing-key management for operators (sts.token.v1.KeyService): list the
 * keys, rotate before the schedule, withdraw a compromised key. Keycloak's
 * active / passive / disabled key providers, for this issuer's ring.
 *
 * The operator presents its own access token, checked as RevokeSubject
 * checks it (callerAuthenticator of @sts/mesh): `issuer_admin.api_audience`,
 * `sub == client_id`, no `act`, and `issuer_admin.read_keys_scope` to list or
 * `issuer_admin.manage_keys_scope` to list and change. Every change is
 * recorded under its client id.
 *
 * A withdrawal reaches every verifier two ways. The key record (no private
 * part any more) is marked withdrawn in the keys bucket, so the issuer and
 * the exchanger, which read keys from it (PublicKeyRing), no longer hold the
 * key, and the JWKS no longer lists it. And the kid goes into the revocations
 * bucket, which every verifier watches and fails closed on when it cannot
 * (sidecars and the policy and audit APIs verify against the JWKS fetched
 * over HTTP and cached for minutes; the revocation refuses the key's tokens
 * there at once, their cached verifications included).
 *
 * A change answers once its event is in JetStream (fail closed: otherwise
 * temporarily_unavailable). Each write is safe to repeat, and the event id is
 * derived from what was stored, so a retry of a call that failed after a
 * write completes it, and JetStream's duplicate window (then the audit
 * projection's event-id check) keeps one event.
 */
import { parseReason } from "./operator-reason.js";
import type { Metadata } from "@grpc/grpc-js";
import { OAuthError, invalidRequest, unavailable } from "@sts/errors";
import { unary } from "@sts/grpc";
import { MAX_KID_CHARS } from "@sts/jwt";
import { KEY_STATES, KID_SYNTAX } from "@sts/keys";
import type { KeyStatus, Rotation, SigningKeyRing, StoredKey } from "@sts/keys";
import type { CallerIdentity } from "@sts/mesh";
import { EVENT_TYPES, recordEventId } from "@sts/nats";
import type { EventPublisher } from "@sts/nats";
import type { KeyServiceHandlers, ListKeysResponse, RotateKeyResponse, SigningKeyInfo, WithdrawKeyRequest__Output, WithdrawKeyResponse } from "@sts/proto";
import type { RevocationList } from "@sts/revocation";
import type { Logger } from "@sts/telemetry";

/** Who made a scheduled rotation, in key.rotated's `by`. */
export const SCHEDULE = "schedule";

/** What KeyService needs. */
export interface KeyManagementDeps {
  /** This issuer's identifier: the `iss` a withdrawal is recorded for in the revocations bucket. */
  issuer: string;
  ring: SigningKeyRing;
  /** The revocations bucket every verifier watches. */
  revocations: Pick<RevocationList, "withdrawKey">;
  events: EventPublisher;
  /**
   * Seconds after its withdrawal a token the key signed may still be presented: the longest token lifetime plus the
   * clock tolerance. The revocation record's `exp`.
   */
  coversSeconds: number;
  /** The ring's clock (seconds). */
  now: () => number;
  /** The scopes of issuer_admin: reading (List) and managing (Rotate, Withdraw; List too). */
  scopes: { read: string; manage: string };
  /** Names the operator, or refuses the call (invalid_token, insufficient_scope), for a call any of `scopes` grants. */
  authenticate: (metadata: Metadata, scopes: readonly string[]) => Promise<CallerIdentity>;
}

/** A Withdraw request, validated. */
export interface KeyToWithdraw {
  kid: string;
  reason: string;
}

/** CloudEvents `data` of `key.rotated`: which key succeeds which, from when, and who asked; never key material. */
export interface KeyRotatedData {
  kid: string;
  /** The signing key it succeeds (empty for the first key). */
  predecessor: string;
  activate_at: number;
  /** The operator's client id, or "schedule" for a rotation keys.rotate_after made. */
  by: string;
  /** The operator's client id again, so `stsctl audit query --client <operator>` finds it; absent for the schedule. */
  client_id?: string;
  /** The jti of the operator's access token, to tell its sessions apart; absent for the schedule. */
  operator_jti?: string;
}

/** CloudEvents `data` of `key.withdrawn`: which key, by whom, why, and which key signs now; never key material. */
export interface KeyWithdrawnData {
  kid: string;
  alg: string;
  withdrawn_at: number;
  by: string;
  reason: string;
  /** The key that signs from then on. */
  successor: string;
  /** The operator's client id again, so `stsctl audit query --client <operator>` finds it. */
  client_id: string;
  /**
   * The jti of the access token of the call whose withdrawal was recorded (also when the issuer completed one that
   * call left halfway, or another call found it done); absent only for a withdrawal recorded by an earlier release
   * and completed or found done by another call.
   */
  operator_jti?: string;
}

const noSuchKey = (): OAuthError => new OAuthError("not_found", "no signing key with this kid");

/** Validates a Withdraw request: invalid_request naming the field (never echoing it), not_found for a kid no key can have. */
export function parseWithdrawKey(req: WithdrawKeyRequest__Output): KeyToWithdraw {
  if (req.kid.length === 0) throw invalidRequest("kid is required");
  if (req.kid.length > MAX_KID_CHARS) throw invalidRequest(`kid is longer than ${MAX_KID_CHARS} characters`);
  // Every kid the ring can hold (a key file's `ops.2024/k1` included: once back on the master key it is still
  // published until its tokens expire, and must be withdrawable); anything else is part of no KV key, so names no key.
  if (!KID_SYNTAX.test(req.kid)) throw noSuchKey();
  return { kid: req.kid, reason: parseReason(req.reason, "say why the key is withdrawn") as string };
}

/** Refuses a change to a ring on keys.jwk_file: its operator replaces the file instead. */
function requireManagedRing(ring: SigningKeyRing, what: string): void {
  if (ring.fileBacked) {
    throw new OAuthError(
      "failed_precondition",
      `the issuer signs with keys.jwk_file: ${what} by replacing that file (and restarting the issuer), not through this API`,
    );
  }
}

/** Turns a failure of the key store (NATS) into temporarily_unavailable: nothing was answered, the caller retries. */
async function stored<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (err instanceof OAuthError) throw err;
    throw unavailable("key store unavailable; retry", err);
  }
}

/** A key as KeyService shows it. */
export function keyInfo({ key, state }: KeyStatus): SigningKeyInfo {
  return {
    kid: key.kid,
    alg: key.alg,
    created_at: String(key.created_at),
    activate_at: String(key.activate_at),
    state,
    withdrawn_at: String(key.withdrawn_at ?? 0),
    withdrawn_by: key.withdrawn_by ?? "",
    reason: key.reason ?? "",
  };
}

/**
 * Records a rotation (key.rotated). Its id comes from the new kid: a retried Rotate, a Rotate answered with the
 * waiting key, and the schedule's record of the same key are stored once.
 */
export async function announceRotation(rotation: Rotation, events: EventPublisher, operator?: CallerIdentity): Promise<void> {
  const data: KeyRotatedData = {
    kid: rotation.kid,
    predecessor: rotation.predecessor,
    activate_at: rotation.activate_at,
    by: operator?.client_id ?? SCHEDULE,
    ...(operator && { client_id: operator.client_id, operator_jti: operator.jti }),
  };
  await events.publish(EVENT_TYPES.KEY_ROTATED, data, { id: recordEventId(EVENT_TYPES.KEY_ROTATED, [rotation.kid]), subject: rotation.kid });
}

/** List: every key on record with its state. */
export async function listKeys(metadata: Metadata, deps: KeyManagementDeps): Promise<ListKeysResponse> {
  await deps.authenticate(metadata, [deps.scopes.read, deps.scopes.manage]);
  return { keys: deps.ring.statuses().map(keyInfo) };
}

/** Rotate: the waiting successor, or a new one pre-published as the schedule's are; answers once key.rotated is stored. */
export async function rotateKey(metadata: Metadata, deps: KeyManagementDeps): Promise<RotateKeyResponse> {
  const operator = await deps.authenticate(metadata, [deps.scopes.manage]);
  requireManagedRing(deps.ring, "its key is rotated");
  const rotation = await stored(() => deps.ring.rotate());
  await announceRotation(rotation, deps.events, operator);
  return { kid: rotation.kid, activate_at: String(rotation.activate_at), created: rotation.created };
}

/**
 * Withdraw: records the kid in the revocations bucket, marks the key withdrawn (a successor signing first when it was
 * the signing key), then stores its key.withdrawn event. The revocation comes first: should the rest fail, verifiers
 * holding the key in a cached JWKS already refuse its tokens (the safe side), and a retry completes the rest. A repeat
 * of the same withdrawal, or a retry of one that failed halfway, writes the same revocation and event again, each
 * stored once. Two operators withdrawing the same key at once, through any replicas, both get the one stored record
 * and the one successor, as a repeat does: the compare-and-set on the key record lets one call write it.
 */
export async function withdrawKey(req: WithdrawKeyRequest__Output, metadata: Metadata, deps: KeyManagementDeps): Promise<WithdrawKeyResponse> {
  const operator = await deps.authenticate(metadata, [deps.scopes.manage]);
  const { kid, reason } = parseWithdrawKey(req);
  requireManagedRing(deps.ring, "its key is withdrawn");
  // The reason goes with the revocation: should this call stop halfway, the issuer completes it in the operator's words.
  // A withdrawal already recorded keeps its own time, operator and words, whoever repeats it.
  const revoke = (key: StoredKey | undefined): Promise<void> => {
    const at = key?.withdrawn_at ?? deps.now();
    const record = { iss: deps.issuer, kid, revoked_at: at, exp: at + deps.coversSeconds };
    const jti = key?.withdrawn_at !== undefined ? key.withdrawn_jti : operator.jti;
    return deps.revocations.withdrawKey({
      ...record,
      by: key?.withdrawn_by ?? operator.client_id,
      reason: key?.reason ?? reason,
      ...(jti !== undefined && { operator_jti: jti }),
    });
  };
  const known = deps.ring.statuses().find((s) => s.key.kid === kid)?.key;
  if (known) await revoke(known);
  const outcome = await stored(() => deps.ring.withdraw(kid, operator.client_id, reason, operator.jti));
  if (!outcome.found) throw noSuchKey();
  const record: StoredKey = outcome.key;
  // Written again in the recorded withdrawal's own terms: a key this replica's copy did not know yet (made a moment
  // ago by another replica) is revoked only now, and another call withdrawing the same key may have overwritten the
  // kid record with its own words in between (an idempotent put, once more per withdrawal).
  await revoke(record);
  // The event of a withdrawal another call made is that call's: this call's token is named only if its write stood.
  const ours = record.withdrawn_jti === undefined ? record.withdrawn_by === operator.client_id : record.withdrawn_jti === operator.jti;
  await announceWithdrawal(record, outcome.successor, deps.events, { by: operator.client_id, reason, ...(ours && { operator }) });
  // Recorded and announced, but this replica may still publish the key for a moment: the retry answers once it does not.
  if (!outcome.shown) throw unavailable("the withdrawal is recorded but this issuer replica does not show it yet; retry");
  return { key: keyInfo({ key: record, state: KEY_STATES.WITHDRAWN }), successor: outcome.successor };
}

/**
 * Records a withdrawal (key.withdrawn) from the stored key record. Its id comes from the kid and the record's
 * withdrawal time, so the operator's call, its retries and an issuer completing it store one event.
 */
async function announceWithdrawal(
  record: StoredKey,
  successor: string,
  events: EventPublisher,
  asked: { by: string; reason: string; operator?: CallerIdentity },
): Promise<void> {
  const withdrawnAt = record.withdrawn_at ?? 0;
  // The token of the call whose write stood; a record from an earlier release names none, and the caller's is used.
  const operatorJti = record.withdrawn_jti ?? asked.operator?.jti;
  const data: KeyWithdrawnData = {
    kid: record.kid,
    alg: record.alg,
    withdrawn_at: withdrawnAt,
    by: record.withdrawn_by ?? asked.by,
    reason: record.reason ?? asked.reason,
    successor,
    client_id: record.withdrawn_by ?? asked.by,
    ...(operatorJti !== undefined && { operator_jti: operatorJti }),
  };
  await events.publish(EVENT_TYPES.KEY_WITHDRAWN, data, {
    id: recordEventId(EVENT_TYPES.KEY_WITHDRAWN, [record.kid, withdrawnAt]),
    subject: record.kid,
  });
}

/** What completing a cut-off withdrawal needs. */
export interface WithdrawalCompletionDeps {
  issuer: string;
  ring: SigningKeyRing;
  revocations: Pick<RevocationList, "isKeyWithdrawn" | "storedKeyWithdrawal">;
  events: EventPublisher;
  logger: Logger;
  /** The ring's clock (seconds). */
  now: () => number;
}

/**
 * Seconds a kid record is left to the Withdraw call that wrote it before an issuer completes the withdrawal itself:
 * the call writes the record first and withdraws the key a moment later, and two writers of one withdrawal would race
 * (each naming a successor, each announcing). Longer than any such call takes (its waits are bounded at a few seconds).
 */
export const COMPLETION_GRACE_SECONDS = 30;

/** The reason recorded when the revocation record holds none (one written before reasons were kept there). */
const NO_REASON_RECORDED = "withdrawal completed by the issuer: the kid was revoked, the key not yet withdrawn";

/** What a completer keeps between passes. */
export interface CompletionState {
  /** Withdrawals it completed whose key.withdrawn is not stored yet, published again at every pass until it is. */
  unannounced: Array<{ key: StoredKey; successor: string; asked: { by: string; reason: string } }>;
  /** Kid → when its grace ends (seconds): until then a pass looks it up no more. */
  graceUntil: Map<string, number>;
  /** Kids of a file-backed ring already reported as impossible to complete, so that the log says it once. */
  reported: Set<string>;
}

/** A completer's state before its first pass. */
export const newCompletionState = (): CompletionState => ({ unannounced: [], graceUntil: new Map(), reported: new Set() });

/** The operator's reason as the kid record holds it, held to Withdraw's own rule; the fallback when absent or unusable. */
function recordedReason(reason: unknown): string {
  try {
    return (typeof reason === "string" && parseReason(reason, false)) || NO_REASON_RECORDED;
  } catch {
    return NO_REASON_RECORDED;
  }
}

/**
 * Publishes the events a timer's step owes (changes it made with no caller to fail closed to), oldest first, each
 * leaving `queue` once stored; throws at the first that fails, keeping it and the rest for the next step.
 */
async function publishOwed<T>(queue: T[], publish: (item: T) => Promise<void>): Promise<void> {
  for (let next = queue[0]; next !== undefined; next = queue[0]) {
    await publish(next);
    queue.shift();
  }
}

/** The key.withdrawn events of withdrawals a completer made, owed until stored. */
const announceCompleted = (state: CompletionState, events: EventPublisher): Promise<void> =>
  publishOwed(state.unannounced, (owed) => announceWithdrawal(owed.key, owed.successor, events, owed.asked));

/**
 * Completes every withdrawal of this issuer's keys that a Withdraw call left halfway, once its grace is over: the kid
 * is in the revocations bucket (written first), but the key record still holds its private part. Each is withdrawn
 * under the operator and reason the revocation records, a successor signing first if it was the signing key, and its
 * key.withdrawn event stored (again at later passes until it is), as the operator's retry would have. A key another
 * writer withdrew meanwhile is theirs to announce. Returns the kids this pass withdrew.
 */
export async function completeWithdrawals(deps: WithdrawalCompletionDeps, state: CompletionState = newCompletionState()): Promise<string[]> {
  const { issuer, ring, revocations, events, logger, now } = deps;
  await announceCompleted(state, events);
  const completed: string[] = [];
  for (const { key, state: keyState } of ring.statuses()) {
    if (keyState === KEY_STATES.WITHDRAWN || !revocations.isKeyWithdrawn(issuer, key.kid)) continue;
    if (ring.fileBacked) {
      // The minter refuses to sign with it meanwhile; only the operator can end that.
      if (!state.reported.has(key.kid)) {
        logger.error({ kid: key.kid }, "the kid of keys.jwk_file is revoked: no token is signed until the file holds another key (then restart the issuer)");
        state.reported.add(key.kid);
      }
      continue;
    }
    if ((state.graceUntil.get(key.kid) ?? -Infinity) > now()) continue;
    const revoked = await revocations.storedKeyWithdrawal(issuer, key.kid);
    // Deleted since the copy saw it: nothing to complete.
    if (!revoked) continue;
    const graceEnds = revoked.revoked_at + COMPLETION_GRACE_SECONDS;
    if (graceEnds > now()) {
      state.graceUntil.set(key.kid, graceEnds);
      continue;
    }
    state.graceUntil.delete(key.kid);
    const asked = { by: revoked.by, reason: recordedReason(revoked.reason) };
    const jti = typeof revoked.operator_jti === "string" ? revoked.operator_jti : undefined;
    const outcome = await ring.withdraw(key.kid, asked.by, asked.reason, jti);
    if (!outcome.found || !outcome.changed) continue;
    logger.warn(
      { kid: key.kid, by: asked.by, successor: outcome.successor },
      "signing key withdrawal completed: its kid was revoked but the key had not been withdrawn",
    );
    completed.push(key.kid);
    state.unannounced.push({ key: outcome.key, successor: outcome.successor, asked });
    await announceCompleted(state, events);
  }
  return completed;
}

/**
 * The ring's maintenance step for the issuer's timer: rotates when due (keys.rotate_after) and records it as
 * key.rotated by "schedule". The rotation stands whether or not its event could be stored (the timer has no caller
 * to fail closed to): an event not stored is logged and published again at the next step, until it is.
 */
export function keyMaintenance(ring: SigningKeyRing, events: EventPublisher, logger: Logger): () => Promise<void> {
  const unannounced: Rotation[] = [];
  return async () => {
    const made = await ring.maintain();
    if (made) {
      logger.info({ kid: made.kid, predecessor: made.predecessor, activate_at: made.activate_at }, "signing key rotated");
      unannounced.push(made);
    }
    await publishOwed(unannounced, (rotation) => announceRotation(rotation, events)).catch((err: unknown) => {
      logger.error({ err, kid: unannounced[0]?.kid }, "key.rotated not stored: published again at the next key check");
    });
  };
}

/** Builds the KeyService implementation. */
export function keyService(deps: KeyManagementDeps, logger: Logger): KeyServiceHandlers {
  return {
    List: unary(async (_req, ctx) => listKeys(ctx.metadata, deps), { name: "List", logger }),
    Rotate: unary(
      async (_req, ctx) => {
        const answer = await rotateKey(ctx.metadata, deps);
        ctx.logger.info({ kid: answer.kid, activate_at: answer.activate_at, created: answer.created }, "signing key rotation requested");
        return answer;
      },
      { name: "Rotate", logger },
    ),
    Withdraw: unary(
      async (req, ctx) => {
        const answer = await withdrawKey(req, ctx.metadata, deps);
        // Who and which, never the operator's token; the reason is in the event.
        ctx.logger.warn({ kid: answer.key?.kid, by: answer.key?.withdrawn_by, successor: answer.successor }, "signing key withdrawn");
        return answer;
      },
      { name: "Withdraw", logger },
    ),
  };
}

/**
 * {@link completeWithdrawals} as a trigger that runs one pass at a time: the minter calls it on every refusal, the
 * key timer once a minute, and calls that come while a pass runs share it. A failed pass is logged; the next call
 * tries again, announcing first what the failed one withdrew.
 */
export function withdrawalCompleter(deps: WithdrawalCompletionDeps): () => Promise<void> {
  const state = newCompletionState();
  let running: Promise<void> | undefined;
  return () =>
    (running ??= completeWithdrawals(deps, state)
      .then(() => undefined)
      .catch((err: unknown) => deps.logger.error({ err }, "completing a signing key withdrawal failed; tried again at the next key check or mint"))
      .finally(() => {
        running = undefined;
      }));
}
