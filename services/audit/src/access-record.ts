/**
 * Every read of the audit trail is itself recorded, as an `audit.accessed`
 * event that JetStream has acknowledged before the call reads anything: an
 * event that cannot be stored fails the call with temporarily_unavailable
 * (no read without a record). The projection stores it like any other
 * event, its `sub`, `client_id` and `jti` naming the auditor, so Query
 * answers "which auditor read what" by type, subject or client.
 *
 * `data` of `audit.accessed`:
 * - `rpc`: Query, Tail, Lineage or Verify;
 * - `credential`: access_token, break_glass (STS_AUDIT_TOKEN) or none (a stack without it);
 * - `sub`, `client_id`, `jti`: the auditor's token's; "break-glass" or "anonymous" as `sub`, and empty ids, without one;
 * - `peer`: the caller's address as gRPC saw it;
 * - `filter`: what the call asked for (`sub`, `client_id`, `audience`, `type`, `since`, `until`, a Lineage's `jti`, a
 *   Query's `limit`, and `after_sequence`), each string bounded; never a token, not even one pasted into a filter.
 */
import { createHash } from "node:crypto";
import type { Credential } from "@sts/mesh";
import { EVENT_TYPES } from "@sts/nats";
import type { EventPublisher } from "@sts/nats";
import type { Auditor } from "./authenticate-auditor.js";
import type { RecordFilter } from "./audit-store.js";

/** The audit API's methods. */
export type AuditRpc = "Query" | "Tail" | "Lineage" | "Verify";

/** What a call asked to read, as parsed at the boundary. */
export interface AccessFilter extends RecordFilter {
  /** The token a Lineage call asked about. */
  jti?: string;
  /** A Query's page size. */
  limit?: number;
  /** Records after this sequence (a Query's page, where a Tail resumes). */
  after_sequence?: number;
}

/** CloudEvents `data` of `audit.accessed`. */
export interface AuditAccessed {
  rpc: AuditRpc;
  credential: Credential;
  sub: string;
  client_id: string;
  jti: string;
  peer: string;
  filter: AccessFilter;
}

/** Longest filter value recorded as given: a filter names an id or a time, and a record is no place for a payload. */
const MAX_VALUE_CHARS = 128;
/** What separates base64url runs; splitting on it is linear, where a backtracking pattern over a 64 KiB value is not. */
const NOT_BASE64URL = /[^A-Za-z0-9_-]/;
const BASE64URL_ONLY = /^[A-Za-z0-9_-]*$/;

/** A compact JWS or JWE: a base64url JSON header (which begins `eyJ`, `{"`), a dot, another segment and a dot. */
function jwtShaped(value: string): boolean {
  const segments = value.split(".");
  for (let i = 0; i + 2 < segments.length; i++) {
    const header = segments[i]?.split(NOT_BASE64URL).pop() ?? "";
    if (header.includes("eyJ") && BASE64URL_ONLY.test(segments[i + 1] ?? "")) return true;
  }
  return false;
}

/**
 * The stack's own bearer tokens that are not JWTs, as the issuer makes them: a prefix and 32 random bytes in
 * base64url. `sto_` an opaque access token, `str_` a refresh token, `rat_` a registration access token (RFC 7592).
 */
const STACK_TOKEN = /(?:sto|str|rat)_[A-Za-z0-9_-]{20}/;

/**
 * 32 or more base64url characters in a row with both upper- and lower-case letters: a client secret (24 random
 * bytes, 32 characters; a random run that long lacks one of the cases once in about 10^7) or any other random
 * string. Ids stay readable: a jti is 22 characters, names and URLs are cut by dots, slashes and colons or keep one case.
 */
const randomLooking = (value: string): boolean => value.split(NOT_BASE64URL).some((run) => run.length >= 32 && /[A-Z]/.test(run) && /[a-z]/.test(run));

/** 40 or more hex digits in a row, letters and digits mixed: a hex key or secret (a UUID's hex runs are at most 12 long). */
const hexSecret = (value: string): boolean => value.split(/[^0-9A-Fa-f]/).some((run) => run.length >= 40 && /\d/.test(run) && /[A-Fa-f]/.test(run));

/** Whether a value holds a token of any kind, or something long and random enough to be a secret. */
const holdsSecret = (value: string): boolean => jwtShaped(value) || STACK_TOKEN.test(value) || randomLooking(value) || hexSecret(value);

/** One filter value as recorded: a token or secret in it makes it its digest (still comparable), a long value is cut. */
export function recordedValue(value: string): string {
  if (holdsSecret(value)) return `sha256:${createHash("sha256").update(value).digest("base64url")}`;
  return value.length > MAX_VALUE_CHARS ? `${value.slice(0, MAX_VALUE_CHARS)}...` : value;
}

/** The event data of one call: who, through which method, asking for what. */
export function accessedData(rpc: AuditRpc, auditor: Auditor, peer: string, filter: AccessFilter): AuditAccessed {
  const asked: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(filter) as Array<[string, string | number | undefined]>) {
    if (typeof value === "string" && value !== "") asked[name] = recordedValue(value);
    else if (typeof value === "number") asked[name] = value;
  }
  const { credential, sub, client_id, jti } = auditor;
  return { rpc, credential, sub, client_id, jti, peer: recordedValue(peer), filter: asked };
}

/** Records one read durably; throws temporarily_unavailable when JetStream does not acknowledge it. */
export type RecordAccess = (rpc: AuditRpc, auditor: Auditor, peer: string, filter: AccessFilter) => Promise<void>;

/** Records reads through the stack's event publisher (the event id is its Nats-Msg-Id, so a retried publish is stored once). */
export function accessRecorder(events: Pick<EventPublisher, "publish">): RecordAccess {
  return async (rpc, auditor, peer, filter) => {
    await events.publish(EVENT_TYPES.AUDIT_ACCESSED, accessedData(rpc, auditor, peer, filter));
  };
}
