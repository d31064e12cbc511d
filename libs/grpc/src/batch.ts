/**
 * Coalescing of concurrent unary calls into one batched call, and the server
 * side that answers each item on its own. Under load most of a small gRPC
 * call's cost is per call (HTTP/2 stream, metadata, timers, one write each
 * way), not per byte: requests made in the same event-loop turn leave
 * together, so a lone request waits for nothing and a burst of 40 costs one
 * round trip instead of 40.
 */
import { SpanKind, SpanStatusCode, context, propagation, trace } from "@opentelemetry/api";
import { OAuthError, invalidRequest } from "@sts/errors";
import { extractTraceContext } from "@sts/telemetry";
import type { Logger } from "@sts/telemetry";
import type { Client, Metadata } from "@grpc/grpc-js";
import { handlerFailure } from "./adapter.js";
import { callUnary } from "./client.js";
import { errorFromItemError, itemErrorFromOAuthError } from "./error-mapping.js";
import type { ItemErrorWire } from "./error-mapping.js";

/** One request of a batch and the trace context it was made in. */
export interface BatchItem<Req> {
  request: Req;
  trace_context: Record<string, string>;
}

/** One outcome of a batch, as the `oneof outcome` messages carry it. */
export interface BatchResult<Res> {
  response?: Res | null;
  error?: ItemErrorWire | null;
}

/** Most items in one batch, on both sides. */
export const MAX_BATCH_ITEMS = 128;

interface Waiting<Req, Res> {
  item: BatchItem<Req>;
  resolve: (response: Res) => void;
  reject: (err: unknown) => void;
}

/** Options of a coalescer. */
export interface CoalescerOptions {
  /** Most items in one batch. */
  maxBatch?: number;
  /**
   * Batches in flight at once. While they are all out, new calls wait and
   * leave together when one returns (like Nagle's algorithm, but never
   * delaying a call when a slot is free): a busy caller sends fewer, larger
   * batches, which is where the saving is, and an idle one waits for nothing.
   */
  maxInFlight?: number;
  /**
   * Rough size budget of one batch, in bytes: a batch must stay under the
   * receiving server's message limit, or every item in it would fail.
   */
  maxBytes?: number;
  /** Estimated wire size of one request (JSON length by default: protobuf is smaller). */
  sizeOf?: (request: unknown) => number;
}

/** Default byte budget of a batch: under the 64 KiB a server of this project accepts, with room to spare. */
export const DEFAULT_BATCH_BYTES = 48 * 1024;

/** Sends the calls made in one event-loop turn as one batch; each caller gets its own answer or OAuthError. */
export class CallCoalescer<Req, Res> {
  readonly #send: (items: Array<BatchItem<Req>>) => Promise<Array<BatchResult<Res>>>;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  readonly #maxBytes: number;
  readonly #sizeOf: (request: unknown) => number;
  #queue: Array<Waiting<Req, Res> & { size: number }> = [];
  #scheduled = false;
  #inFlight = 0;

  constructor(send: (items: Array<BatchItem<Req>>) => Promise<Array<BatchResult<Res>>>, options: CoalescerOptions = {}) {
    this.#send = send;
    this.#maxBatch = Math.min(options.maxBatch ?? 64, MAX_BATCH_ITEMS);
    this.#maxInFlight = options.maxInFlight ?? 2;
    this.#maxBytes = options.maxBytes ?? DEFAULT_BATCH_BYTES;
    this.#sizeOf = options.sizeOf ?? ((r) => JSON.stringify(r).length);
  }

  /** Queues one request; resolves with its response, rejects with its OAuthError (or the batch call's). */
  call(request: Req): Promise<Res> {
    const trace_context: Record<string, string> = {};
    propagation.inject(context.active(), trace_context);
    return new Promise<Res>((resolve, reject) => {
      this.#queue.push({ item: { request, trace_context }, resolve, reject, size: this.#sizeOf(request) });
      // Let the rest of this turn's calls join, then send (if a slot is free; else a returning batch sends).
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          this.#flush();
        });
      }
    });
  }

  #flush(): void {
    while (this.#queue.length > 0 && this.#inFlight < this.#maxInFlight) this.#sendBatch(this.#queue.splice(0, this.#takeCount()));
  }

  /** How many queued calls fit the next batch: at least one, at most maxBatch, within the byte budget. */
  #takeCount(): number {
    let bytes = 0;
    let n = 0;
    for (const w of this.#queue) {
      if (n === this.#maxBatch || (n > 0 && bytes + w.size > this.#maxBytes)) break;
      bytes += w.size;
      n++;
    }
    return n;
  }

  #sendBatch(batch: Array<Waiting<Req, Res>>): void {
    this.#inFlight++;
    this.#send(batch.map((w) => w.item))
      .then(
        (results) => {
          // A short or long answer cannot be matched to its callers: fail them all rather than guess.
          if (results.length !== batch.length) {
            const err = new OAuthError("server_error", "upstream answered a batch with the wrong number of results");
            for (const w of batch) w.reject(err);
            return;
          }
          batch.forEach((w, i) => {
            const r = results[i] as BatchResult<Res>;
            if (r.response && !r.error) w.resolve(r.response);
            else w.reject(errorFromItemError(r.error));
          });
        },
        (err: unknown) => {
          for (const w of batch) w.reject(err);
        },
      )
      .finally(() => {
        this.#inFlight--;
        this.#flush();
      });
  }
}

/** Where a coalescer sends: a batch method of a client, with fresh metadata per call if the callee authenticates its caller. */
export interface BatchMethod {
  client: Client;
  /** The batch method (e.g. `TokenBatch`): takes `{ items }`, answers `{ results }`. */
  method: string;
  deadlineMs: number;
  metadata?: () => Metadata;
}

/** A coalescer whose batches go to one batch method of a gRPC client. */
export function coalescedCalls<Req, Res>(target: BatchMethod, options: CoalescerOptions = {}): CallCoalescer<Req, Res> {
  return new CallCoalescer<Req, Res>(async (items) => {
    const r = await callUnary<{ items: Array<BatchItem<Req>> }, { results: Array<BatchResult<Res>> }>(
      target.client,
      target.method,
      { items },
      { deadlineMs: target.deadlineMs, ...(target.metadata && { metadata: target.metadata() }) },
    );
    return r.results;
  }, options);
}

const tracer = trace.getTracer("@sts/grpc");

/** Runs every item of a received batch as its own request (own trace, own error); results keep the items' order. */
export async function answerBatch<Req, Res>(
  items: ReadonlyArray<{ request: Req | null; trace_context: Record<string, string> }>,
  handler: (request: Req) => Promise<Res>,
  options: { name: string; logger?: Logger },
): Promise<Array<BatchResult<Res>>> {
  if (items.length > MAX_BATCH_ITEMS) throw invalidRequest(`at most ${MAX_BATCH_ITEMS} items per batch`);
  return Promise.all(
    items.map(async (item): Promise<BatchResult<Res>> => {
      const parent = extractTraceContext(item.trace_context);
      const span = tracer.startSpan(`${options.name}.item`, { kind: SpanKind.INTERNAL }, parent);
      try {
        if (!item.request) throw invalidRequest("batch item without a request");
        const request = item.request;
        const response = await context.with(trace.setSpan(parent, span), () => handler(request));
        return { response };
      } catch (err) {
        const oauth = handlerFailure(err, options.name, options.logger);
        span.setAttribute("oauth.error", oauth.code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: oauth.code });
        return { error: itemErrorFromOAuthError(oauth) };
      } finally {
        span.end();
      }
    }),
  );
}
