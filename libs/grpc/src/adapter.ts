/**
 * The one adapter between `async (request, ctx) => response` handlers and
 * grpc-js: trace context in, a server span, deadline and cancellation as an
 * AbortSignal, and error mapping out. Only OAuthError crosses the wire;
 * anything else is logged with its stack and sent as server_error. Every
 * call's duration is recorded as `rpc.server.call.duration` (OpenTelemetry's
 * RPC conventions), with the OAuth error code as `error.type` when it failed.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { createHash, timingSafeEqual } from "node:crypto";
import { status as grpcStatus } from "@grpc/grpc-js";
import type { Metadata, ServerUnaryCall, ServerWritableStream, handleServerStreamingCall, handleUnaryCall, sendUnaryData } from "@grpc/grpc-js";
import { SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api";
import type { Context } from "@opentelemetry/api";
import { OAuthError, grpcStatusOf, toOAuthError, unauthorizedClient } from "@sts/errors";
import { durationHistogram, getRpcIncomingTrace, serverSpanStart } from "@sts/telemetry";
import type { Logger } from "@sts/telemetry";
import { statusFromOAuthError } from "./error-mapping.js";
import { currentSpiffeIdOf } from "./tls.js";
import { bearerCredential } from "./bearer.js";

/** What a handler gets besides its request. */
export interface CallContext {
  metadata: Metadata;
  deadline: Date | undefined;
  /** Aborted when the caller cancels or the deadline passes. */
  signal: AbortSignal;
  /** Whether the caller has gone (it cancelled, or its deadline passed): read before work nobody would receive. Allocates nothing, unlike `signal`. */
  readonly cancelled: boolean;
  /**
   * Runs `listener` once when the caller goes (it cancels, or its deadline passes); returns what stops listening. Makes
   * no AbortController or timer, unlike `signal`: grpc-js itself ends the call at its deadline and says so.
   */
  onGone(listener: () => void): () => void;
  peer: string;
  /**
   * The SPIFFE ID of the caller's TLS certificate, when it presented an X.509-SVID (grpc_tls) that is valid now: none
   * once it has expired, though the connection it opened before then may still be up.
   */
  peerSpiffeId: string | undefined;
  logger: Logger;
}

/**
 * The incoming call an outgoing call is made for (a handler's {@link CallContext}): the outgoing call ends by its
 * deadline and is cancelled when it goes, as gRPC propagates deadlines and cancellation from hop to hop.
 */
export type ParentCall = Pick<CallContext, "deadline" | "cancelled" | "onGone">;

/** Options of the adapter. */
export interface AdapterOptions {
  name?: string;
  logger?: Logger;
}

const tracer = trace.getTracer("@sts/grpc");

/** The handler context of the call whose work is running, found through the async context (see {@link servingCall}). */
const serving = new AsyncLocalStorage<CallContext>();

/**
 * The context of the call whose handler this work runs for (the async context it was started in), if any: what an
 * outgoing call made deep inside a handler, through functions that do not pass the context along, is bounded by.
 */
export function servingCall(): CallContext | undefined {
  return serving.getStore();
}

/** The caller's W3C trace context: never its baggage, which nothing here reads (see @sts/telemetry's tracing). */
function metadataCarrier(metadata: Metadata): Record<string, string> {
  const carrier: Record<string, string> = {};
  for (const key of ["traceparent", "tracestate"]) {
    const v = metadata.get(key)[0];
    if (typeof v === "string") carrier[key] = v;
  }
  return carrier;
}

type ServerCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;

/**
 * The handler's context. A class, so that a call costs one object and no closures; the AbortSignal, its deadline timer
 * and the cancellation listener are made only when a handler reads `signal`: unary handlers here never do, and at
 * thousands of calls a second these per-call objects were measurable garbage.
 */
class HandlerContext implements CallContext {
  readonly metadata: Metadata;
  readonly deadline: Date | undefined;
  readonly logger: Logger;
  readonly #call: ServerCall;
  #abort: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;
  #onCancel: (() => void) | undefined;

  constructor(call: ServerCall, logger: Logger | undefined) {
    this.#call = call;
    this.metadata = call.metadata;
    const deadlineValue = call.getDeadline();
    this.deadline = deadlineValue instanceof Date ? deadlineValue : Number.isFinite(deadlineValue) ? new Date(deadlineValue) : undefined;
    this.logger = logger ?? (console as unknown as Logger);
  }

  get signal(): AbortSignal {
    if (!this.#abort) {
      const controller = new AbortController();
      this.#abort = controller;
      if (this.#call.cancelled) controller.abort(new Error("cancelled"));
      this.#onCancel = () => controller.abort(new Error("cancelled"));
      this.#call.once("cancelled", this.#onCancel);
      if (this.deadline) {
        this.#timer = setTimeout(() => controller.abort(new Error("deadline exceeded")), Math.max(0, this.deadline.getTime() - Date.now()));
        this.#timer.unref();
      }
    }
    return this.#abort.signal;
  }

  get cancelled(): boolean {
    return this.#call.cancelled || (this.deadline !== undefined && Date.now() >= this.deadline.getTime());
  }

  onGone(listener: () => void): () => void {
    // grpc-js emits 'cancelled' when the caller cancels and when the deadline ends the call (after its status is sent).
    this.#call.once("cancelled", listener);
    return () => void this.#call.removeListener("cancelled", listener);
  }

  get peer(): string {
    return this.#call.getPeer();
  }

  get peerSpiffeId(): string | undefined {
    const cert = this.#call.getAuthContext()?.sslPeerCertificate;
    return cert ? currentSpiffeIdOf(cert) : undefined;
  }

  /** Releases what `signal` made, once the handler has settled. */
  done(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#onCancel) this.#call.removeListener("cancelled", this.#onCancel);
  }
}

/** Runs `run` in `active` (a module-level function: serving a call adds no closure to the one the adapter makes). */
function withContext<R>(active: Context, run: () => R): R {
  return context.with(active, run);
}

/** Whether the `authorization` metadata is `Bearer <secret>`, compared in constant time (digests, so lengths leak nothing either). */
export function hasBearerSecret(metadata: Metadata, secret: string): boolean {
  const header = metadata.get("authorization")[0];
  const presented = bearerCredential(typeof header === "string" ? header : undefined);
  const digest = (s: string): Buffer => createHash("sha256").update(s).digest();
  return presented !== undefined && presented !== "" && secret !== "" && timingSafeEqual(digest(presented), digest(secret));
}

/**
 * Refuses a caller whose TLS certificate is not the pinned SPIFFE ID, or is no longer (or not yet) valid (no pin:
 * anyone the transport let in).
 */
export function requirePeerSpiffeId(ctx: CallContext, pinned: string | undefined, who: string): void {
  if (pinned !== undefined && ctx.peerSpiffeId !== pinned) throw unauthorizedClient(`caller's certificate is not the ${who}'s, or not valid now`);
}

/**
 * Records the duration of one method's calls. Made when the handler is
 * adapted (services do so after startTelemetry), so a metrics pipeline set up
 * at start is the one that gets them.
 */
function callDurations(method: string): (startedAt: number, failure?: OAuthError) => void {
  const histogram = durationHistogram("@sts/grpc", "rpc.server.call.duration", "Duration of incoming gRPC calls");
  const succeeded = { "rpc.system.name": "grpc", "rpc.method": method, "rpc.response.status_code": "OK" };
  return (startedAt, failure) => {
    const seconds = (performance.now() - startedAt) / 1000;
    if (!failure) histogram.record(seconds, succeeded);
    else
      histogram.record(seconds, {
        "rpc.system.name": "grpc",
        "rpc.method": method,
        "rpc.response.status_code": grpcStatus[grpcStatusOf(failure.code)],
        "error.type": failure.code,
      });
  };
}

/** The OAuthError a failed handler answers with; anything unexpected is logged with its stack first. */
export function handlerFailure(err: unknown, name: string, logger: Logger | undefined): OAuthError {
  const oauth = toOAuthError(err);
  if (!(err instanceof OAuthError)) logger?.error({ err, rpc: name }, "unexpected error in handler");
  else if (oauth.code === "temporarily_unavailable" || oauth.code === "server_error")
    logger?.warn(
      { rpc: name, code: oauth.code, description: oauth.description, cause: oauth.cause instanceof Error ? oauth.cause.message : undefined },
      "request failed",
    );
  return oauth;
}

/** Adapts an async unary handler to grpc-js. */
export function unary<Req, Res>(handler: (request: Req, ctx: CallContext) => Promise<Res>, options: AdapterOptions = {}): handleUnaryCall<Req, Res> {
  const name = options.name || handler.name || "rpc";
  const recordCall = callDurations(name);
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const startedAt = performance.now();
    const { parent, options: start } = serverSpanStart(metadataCarrier(call.metadata), getRpcIncomingTrace());
    const span = tracer.startSpan(`grpc.server/${name}`, { ...start, kind: SpanKind.SERVER, attributes: { "rpc.system": "grpc", "rpc.method": name } }, parent);
    const ctx = new HandlerContext(call, options.logger);
    // As the call being served: outgoing calls made for it with `parent: "incoming"` find it (client.ts).
    serving
      .run(ctx, withContext, trace.setSpan(parent, span), () => handler(call.request, ctx))
      .then(
        (response) => {
          ctx.done();
          span.end();
          recordCall(startedAt);
          callback(null, response);
        },
        (err: unknown) => {
          ctx.done();
          const oauth = handlerFailure(err, name, options.logger);
          span.setAttribute("oauth.error", oauth.code);
          span.setStatus({ code: SpanStatusCode.ERROR, message: oauth.code });
          span.end();
          recordCall(startedAt, oauth);
          callback(statusFromOAuthError(oauth), null);
        },
      );
  };
}

/** Adapts an async server-streaming handler (it writes to the stream and resolves when done). */
export function serverStream<Req, Res>(
  handler: (request: Req, stream: ServerWritableStream<Req, Res>, ctx: CallContext) => Promise<void>,
  options: AdapterOptions = {},
): handleServerStreamingCall<Req, Res> {
  const name = options.name || handler.name || "stream";
  const recordCall = callDurations(name);
  return (call: ServerWritableStream<Req, Res>) => {
    const startedAt = performance.now();
    const { parent, options: start } = serverSpanStart(metadataCarrier(call.metadata), getRpcIncomingTrace());
    const span = tracer.startSpan(`grpc.server/${name}`, { ...start, kind: SpanKind.SERVER, attributes: { "rpc.system": "grpc", "rpc.method": name } }, parent);
    const ctx = new HandlerContext(call, options.logger);
    serving
      .run(ctx, withContext, trace.setSpan(parent, span), () => handler(call.request, call, ctx))
      .then(
        () => {
          ctx.done();
          span.end();
          recordCall(startedAt);
          call.end();
        },
        (err: unknown) => {
          ctx.done();
          const oauth = handlerFailure(err, name, options.logger);
          span.setStatus({ code: SpanStatusCode.ERROR, message: oauth.code });
          span.end();
          recordCall(startedAt, oauth);
          // grpc-js turns an 'error' event into the call's status; destroy() would end the stream without sending one, and the client would wait forever.
          call.emit("error", Object.assign(new Error(oauth.description), statusFromOAuthError(oauth)));
        },
      );
  };
}
