/**
 * The ends a grpc-js call may meet while a client interceptor holds it back
 * before starting it (the mesh interceptor, while it exchanges the token).
 * grpc-js times the call's deadline, and follows its parent's cancellation,
 * from the moment the call is made; but the status of a call that ends before
 * it was started goes to no listener and is lost: the application would wait
 * for it for ever. So the interceptor watches for the same ends itself.
 */
import { Metadata, propagate, status } from "@grpc/grpc-js";
import type { Deadline, InterceptorOptions, StatusObject } from "@grpc/grpc-js";

/** Longest delay Node's timers take (about 24.8 days); a deadline further off is none, as grpc-js reads it. */
const MAX_TIMER_MS = 2_147_483_647;

const ms = (deadline: Deadline | undefined): number => (deadline === undefined ? Infinity : deadline instanceof Date ? deadline.getTime() : deadline);

/** The call's deadline as grpc-js applies it: its own, or its parent server call's when sooner and propagated (ms since epoch). */
function callDeadline(options: InterceptorOptions): number {
  const flags = options.propagate_flags ?? propagate.DEFAULTS;
  const own = ms(options.deadline);
  return options.parent && flags & propagate.DEADLINE ? Math.min(own, ms(options.parent.getDeadline())) : own;
}

const ended = (code: status, details: string): StatusObject => ({ code, details, metadata: new Metadata() });

/** A watch on a call's ends. */
export interface CallEndWatch {
  /** True when the call had already met its end as the watch began (`onEnd` is then called on the next tick). */
  readonly ended: boolean;
  /** Stops watching: `onEnd` is not called after this. */
  stop(): void;
  /**
   * Stops watching, but first calls `onEnd` when the call has met its end by now and its timer or event has not run
   * yet (grpc-js's own may have: a call passed on now would never end). True when it did.
   */
  stopUnlessEnded(): boolean;
}

/**
 * Calls `onEnd` once with the status grpc-js gives the call when its deadline passes or its parent is cancelled
 * (when cancellation is propagated to it), unless stopped first.
 */
export function watchCallEnd(options: InterceptorOptions, onEnd: (status: StatusObject) => void): CallEndWatch {
  const parent = options.parent && (options.propagate_flags ?? propagate.DEFAULTS) & propagate.CANCELLATION ? options.parent : undefined;
  const deadline = callDeadline(options);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    clearTimeout(timer);
    parent?.removeListener("cancelled", onParentCancelled);
  };
  const end = (s: StatusObject): void => {
    if (stopped) return;
    stop();
    onEnd(s);
  };
  const onParentCancelled = (): void => end(ended(status.CANCELLED, "Cancelled by parent call"));
  const onDeadline = (): void => end(ended(status.DEADLINE_EXCEEDED, "Deadline exceeded"));
  const due = (): (() => void) | undefined => (parent?.cancelled ? onParentCancelled : deadline <= Date.now() ? onDeadline : undefined);
  const stopUnlessEnded = (): boolean => {
    const onDue = stopped ? undefined : due();
    if (onDue) onDue();
    else stop();
    return onDue !== undefined;
  };
  const already = due();
  if (already) {
    process.nextTick(already);
    return { ended: true, stop, stopUnlessEnded };
  }
  parent?.once("cancelled", onParentCancelled);
  const remaining = deadline - Date.now();
  if (remaining <= MAX_TIMER_MS) timer = setTimeout(onDeadline, remaining);
  return { ended: false, stop, stopUnlessEnded };
}
