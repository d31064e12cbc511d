/**
 * The one adapter between `async (request, ctx) => response` handlers and
 * grpc-js: trace context in, a server span, deadline and cancellation as an
 * AbortSignal, and error mapping out. Only OAuthError crosses the wire;
 * anything else is logged with its stack and sent as server_error. Every
 * call's duration is recorded as `rpc.server.call.duration` (OpenTelemetry's
 * RPC conventions), with the OAuth error code as `error.type` when it failed.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { status as grpcStatus } from "@grpc/grpc-js";
import type { Metadata, ServerUnaryCall, ServerWritableStream, handleServerStreamingCall, handleUnaryCall, sendUnaryData } from "@grpc/grpc-js";
import { SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api";
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
  peer: string;
  /**
   * The SPIFFE ID of the caller's TLS certificate, when it presented an X.509-SVID (grpc_tls) that is valid now: none
   * once it has expired, though the connection it opened before then may still be up.
   */
  peerSpiffeId: string | undefined;
  logger: Logger;
}

/** Options of the adapter. */
export interface AdapterOptions {
  name?: string;
  logger?: Logger;
}

const tracer = trace.getTracer("@sts/grpc");

/** The caller's W3C trace context: never its baggage, which nothing here reads (see @sts/telemetry's tracing). */
function metadataCarrier(metadata: Metadata): Record<string, string> {
  const carrier: Record<string, string> = {};
  for (const key of ["traceparent", "tracestate"]) {
    const v = metadata.get(key)[0];
    if (typeof v === "string") carrier[key] = v;
  }
  return carrier;
}

/**
 * The handler's context. The AbortSignal, its deadline timer and the
 * cancellation listener are made only when a handler reads `signal`: unary
 * handlers here never do, and at thousands of calls a second these per-call
 * objects were measurable garbage.
 */
function contextOf(
  call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
  logger: Logger | undefined,
): { ctx: CallContext; done: () => void } {
  const deadlineValue = call.getDeadline();
  const deadline = deadlineValue instanceof Date ? deadlineValue : Number.isFinite(deadlineValue) ? new Date(deadlineValue) : undefined;
  let abort: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  let onCancel: (() => void) | undefined;
  const signal = (): AbortSignal => {
    if (!abort) {
      const controller = new AbortController();
      abort = controller;
      if (call.cancelled) controller.abort(new Error("cancelled"));
      onCancel = () => controller.abort(new Error("cancelled"));
      call.once("cancelled", onCancel);
      if (deadline) {
        timer = setTimeout(() => controller.abort(new Error("deadline exceeded")), Math.max(0, deadline.getTime() - Date.now()));
        timer.unref();
      }
    }
    return abort.signal;
  };
  const ctx: CallContext = {
    metadata: call.metadata,
    deadline,
    get signal() {
      return signal();
    },
    get cancelled() {
      return call.cancelled || (deadline !== undefined && Date.now() >= deadline.getTime());
    },
    get peer() {
      return call.getPeer();
    },
    get peerSpiffeId() {
      const cert = call.getAuthContext()?.sslPeerCertificate;
      return cert ? currentSpiffeIdOf(cert) : undefined;
    },
    logger: logger ?? (console as unknown as Logger),
  };
  return {
    ctx,
    done: () => {
      if (timer) clearTimeout(timer);
      if (onCancel) call.removeListener("cancelled", onCancel);
    },
  };
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
    const { ctx, done } = contextOf(call, options.logger);
    context
      .with(trace.setSpan(parent, span), () => handler(call.request, ctx))
      .then(
        (response) => {
          done();
          span.end();
          recordCall(startedAt);
          callback(null, response);
        },
        (err: unknown) => {
          done();
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
    const { ctx, done } = contextOf(call, options.logger);
    context
      .with(trace.setSpan(parent, span), () => handler(call.request, call, ctx))
      .then(
        () => {
          done();
          span.end();
          recordCall(startedAt);
          call.end();
        },
        (err: unknown) => {
          done();
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
