/**
 * Coalescing of concurrent unary calls into one batched call, and the server
 * side that answers each item on its own. Under load most of a small gRPC
 * call's cost is per call (HTTP/2 stream, metadata, timers, one write each
 * way), not per byte: requests made in the same event-loop turn leave
 * together, so a lone request waits for nothing and a burst of 40 costs one
 * round trip instead of 40.
 */
import { SpanKind, SpanStatusCode, context, propagation, trace } from "@opentelemetry/api";
import { OAuthError, invalidRequest, toOAuthError, unavailable } from "@sts/errors";
import { getRpcIncomingTrace, serverSpanStart } from "@sts/telemetry";
import type { Logger } from "@sts/telemetry";
import type { Client, Metadata } from "@grpc/grpc-js";
import { handlerFailure, servingCall } from "./adapter.js";
import type { ParentCall } from "./adapter.js";
import { callUnary, parentGone, parentOf, withdrawalReason } from "./client.js";
import { DEFAULT_MAX_RECEIVE_BYTES } from "./server.js";
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

/** What bounds one coalesced call besides the coalescer's own deadline. */
export interface MemberOptions {
  /** Withdraws the call while it waits for its batch (once the batch has left, its answer is awaited). */
  signal?: AbortSignal;
  /**
   * The incoming call this one is made for, or `"incoming"` (see CallOptions.parent). When it goes, the call is answered
   * at once, taken out of the queue if its batch has not left, and its batch is cancelled if nobody else waits on it;
   * its deadline holds the batch no longer than the latest of its members' (it never cuts the batch short for the others).
   */
  parent?: ParentCall | "incoming";
}

/** What one batch in flight is waiting for, when its members were made for incoming calls. */
interface BatchInFlight {
  /** Members not yet gone; a member without a parent never goes. */
  waiting: number;
  /** Cancels the batch call, once every member has gone. */
  cancel: AbortController;
}

interface Waiting<Req, Res> {
  item: BatchItem<Req>;
  resolve: (response: Res) => void;
  reject: (err: unknown) => void;
  size: number;
  queuedAt: number;
  /** Stops listening for the caller's withdrawal, once the call has left in a batch. */
  release?: () => void;
  /** The incoming call it is made for. */
  parent?: ParentCall;
  /** Stops listening for the parent going, once the call is answered. */
  unwatch?: () => void;
  /** The batch carrying it, once sent (when any member of that batch has a parent). */
  batch?: BatchInFlight;
  /** Answered already (its parent went): the batch's answer is not for anyone. */
  gone?: boolean;
}

/** What bounds one batch call: the latest deadline of its members (when each has one) and its cancellation. */
export interface BatchBounds {
  deadline?: Date;
  signal?: AbortSignal;
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
   * Size budget of one batch, in bytes: a batch must stay under the
   * receiving server's message limit, or every item in it would fail. A
   * request over the budget on its own is sent alone, so only it can fail.
   */
  maxBytes?: number;
  /**
   * Upper bound of the wire size of one request, in bytes (by default the
   * UTF-8 length of its JSON, which is never smaller than its protobuf
   * encoding: every string is its UTF-8 bytes in both, and JSON's field
   * names and quotes outweigh protobuf's tags and lengths).
   */
  sizeOf?: (request: unknown) => number;
  /**
   * Calls that may wait while every batch slot is out; past it a call is refused at once with
   * temporarily_unavailable. A caller flooding a slow upstream then holds this many requests in memory, not all of
   * them, and each waiting call is answered within a bounded number of batch round trips. Default 4096.
   */
  maxQueued?: number;
  /**
   * Longest a call may wait in the queue, in milliseconds: one still waiting past it when a slot frees is answered
   * temporarily_unavailable and never sent (its caller has given up, or been answered by its own deadline; sent
   * later, it would be acted on for nobody). Checked when a batch leaves, so a call is answered within this plus one
   * batch round trip. Default: no limit.
   */
  maxWaitMs?: number;
}

/** Default of {@link CoalescerOptions.maxQueued}. */
const DEFAULT_MAX_QUEUED = 4096;

/**
 * Default byte budget of a batch: three quarters of the receive limit of a
 * server of this project, the rest covering the framing of items and batch
 * that the per-request estimate leaves out.
 */
export const DEFAULT_BATCH_BYTES = (DEFAULT_MAX_RECEIVE_BYTES * 3) / 4;

/** Framing of one item besides its request (oneof and message tags, lengths), in bytes: a generous bound. */
const ITEM_OVERHEAD_BYTES = 32;

/** UTF-8 bytes of a value's JSON: the wire carries bytes, and `.length` counts UTF-16 units (a CJK character is 1 unit, 3 bytes). */
function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? "", "utf8");
}

/**
 * What each caller of a failed batch call gets. A batch of one is that
 * request's own call, so its error stands (a lone request too large is its
 * own fault). A batch of several refused as a whole says nothing about any
 * request in it: each caller gets a 5xx, never a 4xx that blames its valid
 * request.
 */
function batchFailure(err: unknown, size: number): OAuthError {
  const oauth = toOAuthError(err);
  if (size === 1 || oauth.code === "temporarily_unavailable" || oauth.code === "server_error") return oauth;
  return new OAuthError("server_error", "upstream refused a batch of requests", { cause: err });
}

/** Sends the calls made in one event-loop turn as one batch; each caller gets its own answer or OAuthError. */
export class CallCoalescer<Req, Res> {
  readonly #send: (items: Array<BatchItem<Req>>, bounds: BatchBounds) => Promise<Array<BatchResult<Res>>>;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  readonly #maxBytes: number;
  readonly #sizeOf: (request: unknown) => number;
  readonly #maxQueued: number;
  readonly #maxWaitMs: number;
  #queue: Array<Waiting<Req, Res>> = [];
  #scheduled = false;
  #inFlight = 0;

  constructor(send: (items: Array<BatchItem<Req>>, bounds: BatchBounds) => Promise<Array<BatchResult<Res>>>, options: CoalescerOptions = {}) {
    this.#send = send;
    this.#maxBatch = Math.min(options.maxBatch ?? 64, MAX_BATCH_ITEMS);
    this.#maxInFlight = options.maxInFlight ?? 2;
    this.#maxBytes = options.maxBytes ?? DEFAULT_BATCH_BYTES;
    if (!(this.#maxBytes > 0)) throw new TypeError("CallCoalescer: maxBytes must be positive");
    this.#sizeOf = options.sizeOf ?? jsonBytes;
    this.#maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
    this.#maxWaitMs = options.maxWaitMs ?? Infinity;
  }

  /**
   * Queues one request; resolves with its response, rejects with its OAuthError (or the batch call's). When `signal`
   * aborts while the request still waits for its batch (its caller gone, its deadline past), it is taken out of the
   * queue and never sent, and the call rejects with the signal's reason: sent later, it would be acted on for nobody.
   * Once its batch has left, the upstream may be acting on it, and its answer is awaited. A `parent` that goes answers
   * the call at once, wherever it is (see {@link MemberOptions}).
   */
  call(request: Req, options?: AbortSignal | MemberOptions): Promise<Res> {
    const bare = options instanceof AbortSignal;
    const signal = bare ? options : options?.signal;
    if (signal?.aborted) return Promise.reject(withdrawalReason(signal));
    const parent = bare ? undefined : parentOf(options?.parent);
    if (parent?.cancelled) return Promise.reject(parentGone());
    if (this.#queue.length >= this.#maxQueued) return Promise.reject(unavailable("too many requests are waiting for the upstream; retry shortly"));
    const trace_context: Record<string, string> = {};
    propagation.inject(context.active(), trace_context);
    return new Promise<Res>((resolve, reject) => {
      // The trace context travels in the item too (it grows with tracestate).
      const size = this.#sizeOf(request) + jsonBytes(trace_context) + ITEM_OVERHEAD_BYTES;
      const waiting: Waiting<Req, Res> = {
        item: { request, trace_context },
        resolve,
        reject,
        size,
        queuedAt: performance.now(),
      };
      if (parent) {
        waiting.parent = parent;
        waiting.unwatch = parent.onGone(() => this.#parentGone(waiting));
      }
      if (signal) {
        const withdraw = (): void => {
          const at = this.#queue.indexOf(waiting);
          if (at === -1) return;
          this.#queue.splice(at, 1);
          waiting.unwatch?.();
          reject(withdrawalReason(signal));
        };
        signal.addEventListener("abort", withdraw, { once: true });
        waiting.release = () => signal.removeEventListener("abort", withdraw);
      }
      this.#queue.push(waiting);
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

  /**
   * A member's incoming call has gone: it is answered now. Still queued, it is never sent; in a batch in flight, the
   * batch goes on for the others, and is cancelled when none is left waiting.
   */
  #parentGone(waiting: Waiting<Req, Res>): void {
    waiting.unwatch = undefined;
    if (waiting.gone) return;
    waiting.gone = true;
    const at = this.#queue.indexOf(waiting);
    if (at !== -1) {
      this.#queue.splice(at, 1);
      waiting.release?.();
    } else if (waiting.batch && --waiting.batch.waiting === 0) {
      waiting.batch.cancel.abort();
    }
    waiting.reject(parentGone());
  }

  #flush(): void {
    while (this.#queue.length > 0 && this.#inFlight < this.#maxInFlight) {
      this.#dropOverdue();
      if (this.#queue.length === 0) return;
      const batch = this.#queue.splice(0, this.#takeCount());
      for (const w of batch) w.release?.();
      this.#sendBatch(batch);
    }
  }

  /** Answers the calls that have waited past maxWaitMs, oldest first (the queue is in arrival order), without sending them. */
  #dropOverdue(): void {
    const oldest = performance.now() - this.#maxWaitMs;
    for (let overdue = this.#queue[0]; overdue !== undefined && overdue.queuedAt < oldest; overdue = this.#queue[0]) {
      this.#queue.shift();
      overdue.release?.();
      overdue.unwatch?.();
      overdue.reject(unavailable("the upstream did not take the request in time; retry"));
    }
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
    this.#send(
      batch.map((w) => w.item),
      this.#boundsOf(batch),
    )
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
          const failure = batchFailure(err, batch.length);
          for (const w of batch) w.reject(failure);
        },
      )
      .finally(() => {
        for (const w of batch) w.unwatch?.();
        this.#inFlight--;
        this.#flush();
      });
  }

  /**
   * A batch's bounds: when every member was made for an incoming call with a deadline, the latest of those (the batch
   * then ends when nobody can still use its answer, and never before a member that can), and a signal that cancels it
   * once every member has gone. Nothing is made for a batch none of whose members has a parent.
   */
  #boundsOf(batch: Array<Waiting<Req, Res>>): BatchBounds {
    let latest = 0;
    let parents = 0;
    for (const w of batch) {
      if (!w.parent) continue;
      parents++;
      const at = w.parent.deadline?.getTime() ?? Infinity;
      if (at > latest) latest = at;
    }
    if (parents === 0) return {};
    const inFlight: BatchInFlight = { waiting: batch.length, cancel: new AbortController() };
    for (const w of batch) w.batch = inFlight;
    return { ...(parents === batch.length && Number.isFinite(latest) && { deadline: new Date(latest) }), signal: inFlight.cancel.signal };
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
  return new CallCoalescer<Req, Res>(async (items, bounds) => {
    const r = await callUnary<{ items: Array<BatchItem<Req>> }, { results: Array<BatchResult<Res>> }>(
      target.client,
      target.method,
      { items },
      { deadlineMs: target.deadlineMs, ...bounds, ...(target.metadata && { metadata: target.metadata() }) },
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
  const batchCall = servingCall();
  return Promise.all(
    items.map(async (item): Promise<BatchResult<Res>> => {
      // Each item's trace context is its caller's word, held to grpc_incoming_trace as the call's own would be: with
      // `link`, a caller across a trust boundary picks neither the trace its issuance is filed under nor its sampling.
      const { parent, options: start } = serverSpanStart(item.trace_context, getRpcIncomingTrace());
      const span = tracer.startSpan(`${options.name}.item`, { ...start, kind: SpanKind.INTERNAL }, parent);
      try {
        if (!item.request) throw invalidRequest("batch item without a request");
        // Whoever sent the batch has stopped waiting (cancelled, or past the deadline it gave): an item run now would be
        // acted on (signed, recorded, a refresh token rotated) for nobody.
        if (batchCall?.cancelled) throw unavailable("the batch call ended (its caller cancelled, or its deadline passed) before this item was started");
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
