/**
 * Feeds the projection from the events stream through a durable pull
 * consumer with explicit acks. Messages are appended in batches (one SQLite
 * transaction) and acked only after the commit, so a crash between the two
 * redelivers them and the event-id check records them once. When the
 * projection is behind the consumer's ack floor (its file was deleted or
 * restored from a backup), the consumer is recreated from the projection's
 * own position: the stream is replayed into it.
 */
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import type { Consumer, JsMsg } from "@nats-io/jetstream";
import { EVENTS_STREAM } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import type { Logger } from "@sts/telemetry";
import type { AuditStore, IncomingEvent } from "./audit-store.js";

/** Converts a stream message to an event, or undefined when it is not a CloudEvent. */
export function toEvent(m: JsMsg): IncomingEvent | undefined {
  try {
    const e = m.json<{ id?: unknown; type?: unknown; time?: unknown; source?: unknown; subject?: unknown; data?: unknown }>();
    if (typeof e.id !== "string" || typeof e.type !== "string" || typeof e.data !== "object" || e.data === null) return undefined;
    return {
      streamSequence: m.seq,
      id: e.id,
      type: e.type,
      time: typeof e.time === "string" ? e.time : new Date(0).toISOString(),
      source: typeof e.source === "string" ? e.source : "",
      ...(typeof e.subject === "string" && { subject: e.subject }),
      data: e.data as Record<string, unknown>,
    };
  } catch {
    return undefined;
  }
}

/** Creates the durable consumer so that delivery resumes right after what the projection holds. */
async function prepareConsumer(nats: NatsHandle, name: string, store: AuditStore, logger: Logger): Promise<Consumer> {
  const info = await nats.jsm.consumers.info(EVENTS_STREAM.name, name).catch(() => undefined);
  const floor = info?.ack_floor.stream_seq ?? 0;
  if (info && floor > store.lastStreamSequence) {
    logger.warn({ ack_floor: floor, projection: store.lastStreamSequence }, "projection behind its consumer: replaying from the stream");
    await nats.jsm.consumers.delete(EVENTS_STREAM.name, name);
  }
  if (!info || floor > store.lastStreamSequence) {
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

/** Runs the projection until stopped; survives NATS restarts. */
export class Projector {
  #stopped = false;
  #stop: (() => void) | undefined;
  readonly done: Promise<void>;

  constructor(
    private readonly nats: NatsHandle,
    private readonly store: AuditStore,
    private readonly name: string,
    private readonly logger: Logger,
  ) {
    this.done = this.#run();
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
          const msgs = batch;
          batch = [];
          const events = msgs.map(toEvent).filter((e): e is IncomingEvent => e !== undefined);
          this.store.append(events);
          // Acked only after the commit: a crash before this line redelivers the batch.
          for (const m of msgs) m.ack();
        };
        for await (const m of messages) {
          batch.push(m);
          if (batch.length >= 500) flush();
          else if (!scheduled) {
            scheduled = true;
            setImmediate(() => {
              if (batch.length > 0) flush();
              else scheduled = false;
            });
          }
        }
        if (batch.length > 0) flush();
      } catch (err) {
        if (!this.#stopped) this.logger.warn({ err }, "projection consumer failed; retrying");
      }
      if (!this.#stopped) await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Stops consuming. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stop?.();
    await this.done;
  }
}
