/**
 * Client side: channels tuned for a low-latency hot path, and one promisified
 * unary call with a deadline, trace context and error mapping.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { SpanKind, SpanStatusCode, context, propagation, trace } from "@opentelemetry/api";
import { OAuthError, unavailable } from "@sts/errors";
import { servingCall } from "./adapter.js";
import type { ParentCall } from "./adapter.js";
import { errorFromServiceError } from "./error-mapping.js";
import { IdentityBoundChannel } from "./identity-channel.js";
import { identityOf } from "./tls.js";

/** Default deadline of a call. */
export const DEFAULT_DEADLINE_MS = 5000;

/**
 * Creates a client with keepalive, on the stack's channel credentials (plaintext unless `grpc_tls` is configured).
 * On credentials whose identity can be withdrawn (a Workload API SVID), its connections and calls end with it.
 */
export function createClient<C extends grpc.Client>(
  ctor: new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ClientOptions) => C,
  address: string,
  channel: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): C {
  const identity = identityOf(channel);
  return new ctor(address, channel, {
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    // Reconnect fast after a peer restarts: a call waits for the channel up to its deadline.
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 2_000,
    ...(identity && { channelFactoryOverride: (target, credentials, options) => new IdentityBoundChannel(target, credentials, options, identity) }),
  });
}

/** Options of one call. */
export interface CallOptions {
  /** The call's own deadline, from now (DEFAULT_DEADLINE_MS when not given); `deadline` and `parent` can only shorten it. */
  deadlineMs?: number;
  /** Latest moment the call may end: the earlier of this and `deadlineMs` applies. */
  deadline?: Date;
  metadata?: grpc.Metadata;
  signal?: AbortSignal;
  /**
   * The incoming call this one is made for, or `"incoming"`: the call whose handler this runs for (the adapter's async
   * context; none outside a handler). The call then ends by its deadline, is cancelled when it goes, and is not sent
   * once it has gone: work for a caller that has left is not asked of the next hop either.
   */
  parent?: ParentCall | "incoming";
}

/** The parent a call's options name, if any. */
export function parentOf(parent: ParentCall | "incoming" | undefined): ParentCall | undefined {
  return parent === "incoming" ? servingCall() : parent;
}

const PARENT_GONE = "the call this one was made for ended (its caller cancelled, or its deadline passed)";

/** What a call made for a caller that has gone is answered: nobody waits for it, so it is retryable, and not the upstream's fault. */
export function parentGone(cause?: unknown): OAuthError {
  return unavailable(PARENT_GONE, cause);
}

/** Whether `err`, or an error it was made from, is {@link parentGone}'s: the call ended because the caller it was made for went. */
export function endedByParent(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof OAuthError && e.description === PARENT_GONE) return true;
  }
  return false;
}

/** The earliest of a deadline from now, an absolute one and a parent's (epoch milliseconds; no Date made). */
export function earliestDeadline(deadlineMs: number, deadline: Date | undefined, parent: ParentCall | undefined): number {
  let at = Date.now() + deadlineMs;
  if (deadline && deadline.getTime() < at) at = deadline.getTime();
  if (parent?.deadline && parent.deadline.getTime() < at) at = parent.deadline.getTime();
  return at;
}

/**
 * Why a call was withdrawn before it was sent: its signal's reason when that is an OAuthError, else a 503 (a bare
 * `abort()` gives a DOMException, which callers promised an OAuthError would answer as an unexpected server_error).
 */
export function withdrawalReason(signal: AbortSignal): OAuthError {
  return signal.reason instanceof OAuthError ? signal.reason : unavailable("the request was withdrawn before it was sent");
}

const tracer = trace.getTracer("@sts/grpc");
const setter = { set: (md: grpc.Metadata, key: string, value: string) => md.set(key, value) };

/**
 * Calls a unary method; a failure rejects with an OAuthError. A `signal` already aborted sends nothing (its abort event
 * has fired, so no listener would ever cancel the call): the call rejects with {@link withdrawalReason}.
 */
export function callUnary<Req, Res>(client: grpc.Client, method: string, request: Req, options: CallOptions = {}): Promise<Res> {
  if (options.signal?.aborted) return Promise.reject(withdrawalReason(options.signal));
  const parent = parentOf(options.parent);
  if (parent?.cancelled) return Promise.reject(parentGone());
  const metadata = options.metadata ?? new grpc.Metadata();
  const span = tracer.startSpan(`grpc.client/${method}`, { kind: SpanKind.CLIENT });
  propagation.inject(trace.setSpan(context.active(), span), metadata, setter);
  // grpc-js sends what is left of it as grpc-timeout, so the next hop's handler sees the same bound (and passes it on).
  const deadline = earliestDeadline(options.deadlineMs ?? DEFAULT_DEADLINE_MS, options.deadline, parent);
  const fn = (
    client as unknown as Record<
      string,
      (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall
    >
  )[method];
  if (typeof fn !== "function") throw new TypeError(`no unary method ${method}`);
  return new Promise<Res>((resolve, reject) => {
    const call = fn.call(client, request, metadata, { deadline }, (err, res) => {
      options.signal?.removeEventListener("abort", onAbort);
      stopWatching?.();
      if (err) {
        // Ended by its parent's deadline or cancellation: the upstream did nothing wrong, say why instead.
        const oauth = parent?.cancelled ? parentGone(err) : errorFromServiceError(err);
        span.setStatus({ code: SpanStatusCode.ERROR, message: oauth.code });
        span.end();
        reject(oauth);
      } else {
        span.end();
        resolve(res as Res);
      }
    });
    const onAbort = (): void => call.cancel();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    // grpc-js never calls back synchronously: the listeners are in place (and released) before the callback can run.
    const stopWatching = parent?.onGone(onAbort);
  });
}

/** The grpc.health.v1 Health client constructor, loaded once. */
let healthCtor: (new (address: string, creds: grpc.ChannelCredentials) => grpc.Client) | undefined;

/** One grpc.health.v1 Check: true iff the server reports SERVING for `service` ("" = the whole server). */
export async function checkHealth(
  address: string,
  service = "",
  deadlineMs = 1000,
  channel: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): Promise<boolean> {
  if (!healthCtor) {
    const def = protoLoader.loadSync(healthProtoPath, { keepCase: true, enums: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: typeof healthCtor } } } };
    healthCtor = pkg.grpc.health.v1.Health;
  }
  const client = new (healthCtor as NonNullable<typeof healthCtor>)(address, channel);
  try {
    return await new Promise<boolean>((resolve) => {
      (client as unknown as { Check(r: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: { status: string }) => void): void }).Check(
        { service },
        { deadline: Date.now() + deadlineMs },
        (err, res) => resolve(!err && res?.status === "SERVING"),
      );
    });
  } finally {
    client.close();
  }
}
