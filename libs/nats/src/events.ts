/**
 * CloudEvents 1.0 on JetStream. The event id is made here (never taken from
 * a request) and is also the Nats-Msg-Id, so a retried publish is stored
 * once. A caller gets a resolved promise only when JetStream has acknowledged
 * the event: on failure it gets temporarily_unavailable and must not hand out
 * what the event records (fail closed).
 */
import { createHash, randomUUID } from "node:crypto";
import { context, propagation } from "@opentelemetry/api";
import type { Context } from "@opentelemetry/api";
import { headers } from "@nats-io/transport-node";
import type { MsgHdrs } from "@nats-io/transport-node";
import { JetStreamApiError } from "@nats-io/jetstream";
import type { PubAck } from "@nats-io/jetstream";
import { unavailable } from "@sts/errors";
import type { NatsHandle, NatsLogger } from "./connection.js";

/** Event types, named noun.verb. */
export const EVENT_TYPES = {
  TOKEN_ISSUED: "token.issued",
  TOKEN_EXCHANGED: "token.exchanged",
  TOKEN_REFRESHED: "token.refreshed",
  TOKEN_REVOKED: "token.revoked",
  /**
   * A refresh token family was revoked (published by the issuer before it answers): by its client (RFC 7009), on
   * reuse of a spent token (RFC 9700 §4.14.2), or refused because its subject or client was revoked. The access tokens
   * revoked with it have their own `token.revoked`.
   */
  REFRESH_FAMILY_REVOKED: "refresh_family.revoked",
  EXCHANGE_DENIED: "exchange.denied",
  CLIENT_REGISTERED: "client.registered",
  CLIENT_UPDATED: "client.updated",
  CLIENT_DELETED: "client.deleted",
  POLICY_UPDATED: "policy.updated",
  /** A signing key successor was made: by the schedule (keys.rotate_after) or an operator (KeyService.Rotate). Published by the issuer. */
  KEY_ROTATED: "key.rotated",
  /** An operator withdrew a signing key (compromise): every token it signed is refused from then (KeyService.Withdraw). */
  KEY_WITHDRAWN: "key.withdrawn",
  /** An operator revoked every token of a subject issued until then (published by the issuer; see RevokeSubject). */
  SUBJECT_REVOKED: "subject.revoked",
  /** Someone read the audit trail (published by the audit service before it answers; see services/audit). */
  AUDIT_ACCESSED: "audit.accessed",
} as const;

/** One event type. */
export type EventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];

/**
 * The id of the event recording a stored change, made from what identifies the change: a retry that finds the change
 * done publishes the same id, which JetStream (within its duplicate window) and the audit projection (by id) store once.
 */
export function recordEventId(type: EventType, parts: readonly unknown[]): string {
  return `${type}.${createHash("sha256").update(JSON.stringify(parts)).digest("base64url")}`;
}

/** The events stream. */
export const EVENTS_STREAM = { name: "STS_EVENTS", subjects: ["sts.events.>"] } as const;

/** Subject of an event type. */
export function eventSubject(type: EventType): string {
  return `sts.events.${type}`;
}

/** A CloudEvents 1.0 structured JSON event. */
export interface CloudEvent<T> {
  specversion: "1.0";
  id: string;
  source: string;
  type: EventType;
  time: string;
  subject?: string;
  datacontenttype: "application/json";
  data: T;
  traceparent?: string;
}

/** How the events stream is kept. */
export interface EventsStreamOptions {
  /** How long an event is kept (ms), 0 for ever; absent: as the stream is (for ever when it is new). */
  maxAgeMs?: number | undefined;
  /** Most bytes kept, the oldest events dropped past it, 0 for no limit; absent: as the stream is (none when new). */
  maxBytes?: number | undefined;
  duplicateWindowMs?: number;
  replicas?: number;
}

/**
 * Creates or updates the events stream (file storage, duplicate window for retried publishes, the given retention);
 * a retention not given is left as the stream has it, so that a limit set with the NATS tools is not lifted silently.
 */
export async function ensureEventsStream(handle: NatsHandle, options: EventsStreamOptions = {}): Promise<void> {
  let existing: { max_age: number } | undefined;
  try {
    existing = (await handle.jsm.streams.info(EVENTS_STREAM.name)).config;
  } catch (err) {
    if (!(err instanceof Error && /not found/i.test(err.message))) throw err;
  }
  const maxAge = options.maxAgeMs !== undefined ? options.maxAgeMs * 1_000_000 : (existing?.max_age ?? 0);
  const window = (options.duplicateWindowMs ?? 120_000) * 1_000_000;
  const config = {
    name: EVENTS_STREAM.name,
    subjects: [...EVENTS_STREAM.subjects],
    storage: "file" as const,
    num_replicas: options.replicas ?? 1,
    // The server refuses a duplicate window longer than the max age.
    duplicate_window: maxAge > 0 ? Math.min(window, maxAge) : window,
    max_age: maxAge,
    ...((options.maxBytes !== undefined || !existing) && { max_bytes: options.maxBytes || -1 }),
  };
  if (!existing) {
    try {
      await handle.jsm.streams.add(config);
      return;
    } catch (addErr) {
      // Services start together: another one created the stream between our info and our add.
      if (!(addErr instanceof Error && /already in use/i.test(addErr.message))) throw addErr;
    }
  }
  await handle.jsm.streams.update(EVENTS_STREAM.name, config);
}

/**
 * The sequence of an event the events stream acknowledged, or throws. nats.js takes any reply naming a stream, or none,
 * as an ack: a core NATS subscriber answering on the event's subject (`{}` will do) would have the caller hand out what
 * the event records with no event stored anywhere.
 */
function storedSeq(ack: PubAck): number {
  // Read as the wire may have it (a reply without these fields), not as the type says it is.
  if (ack.stream !== EVENTS_STREAM.name || !Number.isSafeInteger(ack.seq) || ack.seq < 1) {
    throw new MisroutedEvent(`the reply to an event publish is not an acknowledgement of ${EVENTS_STREAM.name}`);
  }
  return ack.seq;
}

/** An event publish answered by something other than the events stream: what answered will answer the retry too. */
class MisroutedEvent extends Error {}

/** JetStream's "expected stream does not match" (JSStreamNotMatchErr): another stream captures the event's subject. */
const STREAM_NOT_MATCH = 10060;

/**
 * Whether a failed publish will fail the same way however often it is retried: the subject is answered by a core
 * subscriber or stored by another stream. Retrying it for the whole window would only hold each caller seconds longer
 * before the same temporarily_unavailable.
 */
const isMisrouted = (err: unknown): boolean => err instanceof MisroutedEvent || (err instanceof JetStreamApiError && err.code === STREAM_NOT_MATCH);

const setter = { set: (h: MsgHdrs, key: string, value: string) => h.set(key, value) };

/** Reads the W3C trace context from an event's NATS headers. */
export function extractTraceContext(h: MsgHdrs | undefined): Context {
  if (!h) return context.active();
  return propagation.extract(context.active(), h, { keys: (c) => c.keys(), get: (c, k) => (c.has(k) ? c.get(k) : undefined) });
}

/** Options of the publisher. */
export interface PublisherOptions {
  /** CloudEvents `source`, e.g. `sts/issuer`. */
  source: string;
  /** Ack timeout of one attempt. */
  timeoutMs?: number;
  /** Attempts after the first, at most. */
  retries?: number;
  /**
   * How long to keep retrying, in ms. Longer than a broker restart, so a
   * token whose event was stored just before a crash (ack lost) is still
   * handed out once the retry is acknowledged as a duplicate.
   */
  retryWindowMs?: number;
  logger?: NatsLogger;
}

/** Publishes CloudEvents with acks, retries and idempotent ids. */
export class EventPublisher {
  readonly #h: NatsHandle;
  readonly #o: Required<Omit<PublisherOptions, "logger">> & { logger?: NatsLogger };

  constructor(handle: NatsHandle, options: PublisherOptions) {
    this.#h = handle;
    this.#o = { timeoutMs: 1000, retries: 20, retryWindowMs: 4000, ...options };
  }

  /** Publishes one event; resolves after the JetStream ack. */
  /** `time`: when what the event records happened, when that is not now (CloudEvents `time`); default now. */
  async publish<T>(
    type: EventType,
    data: T,
    options: { subject?: string; id?: string; time?: Date } = {},
  ): Promise<{ id: string; seq: number; duplicate: boolean }> {
    const id = options.id ?? randomUUID();
    const h = headers();
    propagation.inject(context.active(), h, setter);
    const event: CloudEvent<T> = {
      specversion: "1.0",
      id,
      source: this.#o.source,
      type,
      time: (options.time ?? new Date()).toISOString(),
      ...(options.subject !== undefined && { subject: options.subject }),
      datacontenttype: "application/json",
      data,
      ...(h.has("traceparent") && { traceparent: h.get("traceparent") }),
    };
    const payload = JSON.stringify(event);
    let lastError: unknown;
    const giveUpAt = Date.now() + this.#o.retryWindowMs;
    for (let attempt = 0; attempt <= this.#o.retries; attempt++) {
      if (attempt > 0) {
        if (Date.now() >= giveUpAt) break;
        await new Promise((r) => setTimeout(r, Math.min(500, 25 * 2 ** attempt)));
      }
      try {
        // Same msgID on every attempt: an attempt that timed out may have been stored. The expected stream makes the
        // server refuse to store the event anywhere but the stream the audit service reads.
        const ack = await this.#h.js.publish(eventSubject(type), payload, {
          msgID: id,
          timeout: this.#o.timeoutMs,
          headers: h,
          expect: { streamName: EVENTS_STREAM.name },
        });
        return { id, seq: storedSeq(ack), duplicate: ack.duplicate };
      } catch (err) {
        lastError = err;
        if (this.#h.nc.isClosed() || isMisrouted(err)) break;
      }
    }
    this.#o.logger?.error({ err: lastError, type, id }, "event not stored");
    throw unavailable("event store unavailable", lastError);
  }
}
