/**
 * Feeds the projection from the events stream through a durable pull
 * consumer with explicit acks. Messages are appended in batches (one SQLite
 * transaction) and acked only after the commit, so a crash between the two
 * redelivers them and the event-id check records them once. Records keep the
 * stream's order: a batch that cannot be committed is held and retried
 * before any later message is taken, and a session starts from the
 * projection's own position rather than after what the consumer delivered.
 * When the projection is behind the consumer's ack floor (its file was
 * deleted or restored from a backup), the stream is replayed into it the same
 * way. A stream deleted and made again is told apart by its creation time and
 * read from its first event.
 */
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import type { Consumer, JsMsg } from "@nats-io/jetstream";
import { EVENTS_STREAM, eventSubject } from "@sts/nats";
import type { EventType, NatsHandle } from "@sts/nats";
import { durationHistogram, getMeter } from "@sts/telemetry";
import type { Logger } from "@sts/telemetry";
import type { AuditStore, IncomingEvent } from "./audit-store.js";

/** Why a stream message is not recorded: a description for the log, and a kind for the metric. */
export interface Refused {
  refused: string;
  kind: "not_json" | "not_cloudevent" | "subject_mismatch";
}

/**
 * Converts a stream message to an event, or says why it is not recorded: it is not a CloudEvent, or its `type` is not
 * the one its subject names. Each service's NATS user may publish only its own event types
 * (deploy/k8s/nats/permissions.conf: the exchanger exchange.denied, the audit service audit.accessed); a body's
 * `type` is the publisher's word alone, so a record taken from it would let any of them write token.issued,
 * token.revoked or key.withdrawn into the trail, and lineage, under a subject it may publish to.
 */
export function toEvent(m: JsMsg): IncomingEvent | Refused {
  let e: { id?: unknown; type?: unknown; time?: unknown; source?: unknown; subject?: unknown; data?: unknown };
  try {
    e = m.json<typeof e>();
  } catch {
    return { refused: "not JSON", kind: "not_json" };
  }
  if (typeof e !== "object" || e === null || typeof e.id !== "string" || typeof e.type !== "string" || typeof e.data !== "object" || e.data === null) {
    return { refused: "not a CloudEvent", kind: "not_cloudevent" };
  }
  if (m.subject !== eventSubject(e.type as EventType)) return { refused: "its type is not the one its subject names", kind: "subject_mismatch" };
  return {
    streamSequence: m.seq,
    id: e.id,
    type: e.type,
    time: typeof e.time === "string" ? e.time : new Date(0).toISOString(),
    source: typeof e.source === "string" ? e.source : "",
    ...(typeof e.subject === "string" && { subject: e.subject }),
    data: e.data as Record<string, unknown>,
  };
}

/** How long a batch that could not be committed waits before it is tried again. */
const RETRY_COMMIT_AFTER_MS = 1000;

/** Creates the durable consumer so that delivery resumes right after what the projection holds. */
async function prepareConsumer(nats: NatsHandle, name: string, store: AuditStore, logger: Logger): Promise<Consumer> {
  const stream = await nats.jsm.streams.info(EVENTS_STREAM.name);
  const info = await nats.jsm.consumers.info(EVENTS_STREAM.name, name).catch(() => undefined);
  // A stream deleted and made again (NATS lost its store, an operator recreated it) numbers from 1: starting after the
  // projection's old position would skip its events up to that number, however many the stack published since. Its
  // creation time tells it apart (kept across server restarts and config updates), so the projection remembers the
  // stream it reads and reads another from its first event; event ids keep what is already held once. A projection
  // from before it remembered one has only the old sign left: a stream whose numbers are below its own.
  const known = store.streamCreated;
  const recreated = known === undefined ? info === undefined && stream.state.last_seq < store.lastStreamSequence : known !== stream.created;
  if (recreated) {
    logger.error(
      { stream_created: stream.created, projection_stream_created: known, stream_last_seq: stream.state.last_seq, projection: store.lastStreamSequence },
      "events stream was made again: reading it from its first event",
    );
    // Made on the new stream for a projection that was then restored from an older copy: it positions nothing.
    if (info) await nats.jsm.consumers.delete(EVENTS_STREAM.name, name);
  }
  // Remembered before the consumer is made: a crash in between finds the new stream known and the position reset.
  if (recreated || known === undefined) store.readStream(stream.created, recreated);
  const floor = info?.ack_floor.stream_seq ?? 0;
  // Delivered to an earlier session and never committed (a stop, a failed session): JetStream would send them again
  // only when their ack wait ran out, after newer events, and the projection would hold them out of stream order.
  const behind = !recreated && info !== undefined && info.delivered.stream_seq > store.lastStreamSequence;
  if (behind) {
    if (floor > store.lastStreamSequence)
      logger.warn({ ack_floor: floor, projection: store.lastStreamSequence }, "projection behind its consumer: replaying from the stream");
    await nats.jsm.consumers.delete(EVENTS_STREAM.name, name);
  }
  if (!info || behind || recreated) {
    const start = store.lastStreamSequence + 1;
    await nats.jsm.consumers.add(EVENTS_STREAM.name, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      ack_wait: 30_000_000_000,
      max_ack_pending: 20_000,
      ...(start > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start } : { deliver_policy: DeliverPolicy.All }),
    });
  }
  return nats.js.consumers.get(EVENTS_STREAM.name, name);
}

/**
 * What an operator watches: records appended by type, how long an event took from its source to the projection,
 * and how many events the consumer has not yet had acked (read from the server at each scrape, so a stalled
 * projector shows as a growing backlog rather than a frozen number).
 */
function projectionMetrics(
  nats: NatsHandle,
  name: string,
): { recorded(records: ReadonlyArray<{ type: string; time: string }>): void; refused(kind: Refused["kind"]): void } {
  const meter = getMeter("@sts/audit");
  const appended = meter.createCounter("sts.audit.records.appended", { description: "Records added to the projection, by event type" });
  // A refused event leaves no record, so Verify cannot show the gap it leaves in the trail: this count does.
  const refusedEvents = meter.createCounter("sts.audit.events.refused", { description: "Stream messages not recorded in the projection, by why" });
  const delay = durationHistogram("@sts/audit", "sts.audit.projection.delay", "From an event's time at its source to its commit in the projection");
  meter
    .createObservableGauge("sts.audit.consumer.backlog", { description: "Events in the stream the projection has not committed yet (pending + unacked)" })
    .addCallback(async (result) => {
      // With NATS away there is no figure to give: sts.nats.connected says why.
      const info = await nats.jsm.consumers.info(EVENTS_STREAM.name, name).catch(() => undefined);
      if (info) result.observe(info.num_pending + info.num_ack_pending);
    });
  return {
    refused(kind) {
      refusedEvents.add(1, { "sts.audit.refusal": kind });
    },
    recorded(records) {
      const now = Date.now();
      for (const e of records) {
        appended.add(1, { "sts.event.type": e.type });
        const at = Date.parse(e.time);
        if (at > 0) delay.record(Math.max(0, now - at) / 1000);
      }
    },
  };
}

/** How a projector tells that it has stopped keeping up. */
export interface StallOptions {
  /** audit.max_projection_lag: how long events may wait in the stream with nothing committed before the projection is stalled. */
  maxLagMs?: number;
  /** How often the consumer's backlog is read. */
  probeIntervalMs?: number;
  /** Told each time the projection becomes stalled or recovers (readiness follows it). */
  onStalledChange?: (stalled: boolean) => void;
}

/** Default audit.max_projection_lag. */
export const DEFAULT_MAX_PROJECTION_LAG_MS = 30_000;

/**
 * Runs the projection until stopped; survives NATS restarts. It also watches itself: events waiting in the stream
 * while nothing is committed for `maxLagMs` (a disk that refuses writes, a consumer that stopped delivering) make it
 * stalled. Its answers would then be silently old, so the service reports unready, and the consumer is opened anew.
 */
export class Projector {
  #stopped = false;
  #stop: (() => void) | undefined;
  readonly #metrics: ReturnType<typeof projectionMetrics>;
  readonly #stall: Required<Omit<StallOptions, "onStalledChange">> & Pick<StallOptions, "onStalledChange">;
  /** When the backlog was first seen with no commit since; undefined while the projection keeps up. */
  #behindSince: number | undefined;
  #stalled = false;
  /** Settles once a batch that could not be committed is; nothing later is committed before it. */
  #held: Promise<void> | undefined;
  readonly #probe: NodeJS.Timeout;
  readonly done: Promise<void>;

  constructor(
    private readonly nats: NatsHandle,
    private readonly store: AuditStore,
    private readonly name: string,
    private readonly logger: Logger,
    stall: StallOptions = {},
  ) {
    this.#metrics = projectionMetrics(nats, name);
    this.#stall = { maxLagMs: DEFAULT_MAX_PROJECTION_LAG_MS, probeIntervalMs: 5_000, ...stall };
    this.#probe = setInterval(() => void this.#checkProgress(), this.#stall.probeIntervalMs);
    this.#probe.unref();
    this.done = this.#run();
  }

  /** True while events wait in the stream and nothing has been committed for longer than the allowed lag. */
  get stalled(): boolean {
    return this.#stalled;
  }

  async #checkProgress(): Promise<void> {
    // NATS away: no figure, and the service is unready for that already.
    const info = await this.nats.jsm.consumers.info(EVENTS_STREAM.name, this.name).catch(() => undefined);
    if (!info || this.#stopped) return;
    if (info.num_pending + info.num_ack_pending === 0) {
      this.#setStalled(false);
      return;
    }
    this.#behindSince ??= Date.now();
    if (Date.now() - this.#behindSince > this.#stall.maxLagMs && !this.#stalled) {
      this.#setStalled(true);
      this.logger.error(
        { backlog: info.num_pending + info.num_ack_pending, since: new Date(this.#behindSince).toISOString() },
        "projection stalled: events wait and none was committed; reopening the consumer",
      );
      // A consumer that stopped delivering without an error is only left by opening it again. A held batch is a write
      // fault, not the consumer's: reopening would only let later events in before it.
      if (!this.#held) this.#stop?.();
    }
  }

  #setStalled(stalled: boolean): void {
    if (!stalled) this.#behindSince = undefined;
    if (stalled === this.#stalled) return;
    this.#stalled = stalled;
    if (!stalled) this.logger.warn("projection keeping up again");
    this.#stall.onStalledChange?.(stalled);
  }

  /** Commits a batch and acks it; false when the projection could not be written. */
  #commit(msgs: readonly JsMsg[]): boolean {
    const events: IncomingEvent[] = [];
    for (const m of msgs) {
      const e = toEvent(m);
      if (!("refused" in e)) events.push(e);
      // Acked with the batch, so it does not hold the trail up; the stream keeps it, and the log says where.
      else {
        this.#metrics.refused(e.kind);
        this.logger.error({ stream_sequence: m.seq, subject: m.subject, reason: e.refused }, "event not recorded in the projection");
      }
    }
    try {
      this.#metrics.recorded(this.store.append(events));
    } catch (err) {
      // The disk is full or the file went away: thrown from setImmediate this would end the process, and a restart
      // would meet the same fault.
      this.logger.error({ err, events: msgs.length }, "projection write failed; the batch is held and tried again");
      return false;
    }
    // A commit is progress: the projection is not stalled, whatever backlog remains.
    this.#setStalled(false);
    // Acked only after the commit: a crash before this line redelivers the batch.
    for (const m of msgs) m.ack();
    return true;
  }

  /**
   * Tries a batch that failed until it commits or the projector stops. Nothing later is taken meanwhile, so no later
   * event is recorded before it; its ack wait is kept fresh so JetStream does not send it again in the meantime.
   */
  async #commitWhenAble(msgs: readonly JsMsg[]): Promise<void> {
    while (!this.#stopped) {
      await new Promise((r) => setTimeout(r, RETRY_COMMIT_AFTER_MS));
      if (this.#stopped) break;
      if (this.#commit(msgs)) return;
      for (const m of msgs) m.working();
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        const consumer = await prepareConsumer(this.nats, this.name, this.store, this.logger);
        const messages = await consumer.consume({ max_messages: 1000 });
        this.#stop = () => void messages.stop();
        let batch: JsMsg[] = [];
        let scheduled = false;
        const flush = (): void => {
          scheduled = false;
          if (this.#held || batch.length === 0) return;
          const msgs = batch;
          batch = [];
          if (!this.#commit(msgs)) {
            this.#held = this.#commitWhenAble(msgs).finally(() => {
              this.#held = undefined;
            });
          }
        };
        for await (const m of messages) {
          // Not iterating also holds back the client's next pull: a held batch keeps memory bounded too.
          if (this.#held) await this.#held;
          if (this.#stopped) break;
          batch.push(m);
          if (batch.length >= 500) flush();
          else if (!scheduled) {
            scheduled = true;
            setImmediate(flush);
          }
        }
        flush();
        if (this.#held) await this.#held;
      } catch (err) {
        if (!this.#stopped) this.logger.warn({ err }, "projection consumer failed; retrying");
      }
      if (!this.#stopped) await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Stops consuming. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#probe);
    this.#stop?.();
    await this.done;
  }
}
