/**
 * The children the test process started and has not seen exit, killed when the test process ends however it ends.
 *
 * "exit" alone is not enough: vitest stops a fork worker with SIGTERM (and a user's Ctrl-C sends SIGINT), and Node
 * dies of a signal without emitting "exit", which left nats-server and service processes running, adopted by init.
 */
import type { ChildProcess } from "node:child_process";

/** Signals that end the test process by default; each one kills the children first. */
export const FATAL_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;

// On globalThis, not in this module: vitest may evaluate the module again in the same process (isolate off, or a
// second copy through another path), and one set with one set of handlers must cover every copy's children.
const KEY = Symbol.for("@sts/testkit/live-children");

/** The process-wide set of live children, with the exit and signal handlers installed on first use. */
export function liveChildren(): Set<ChildProcess> {
  const global = globalThis as { [KEY]?: Set<ChildProcess> };
  const existing = global[KEY];
  if (existing) return existing;
  const live = new Set<ChildProcess>();
  global[KEY] = live;
  const killAll = (): void => {
    for (const child of live) child.kill("SIGKILL");
    live.clear();
  };
  process.once("exit", killAll);
  for (const signal of FATAL_SIGNALS) {
    const onSignal = (): void => {
      killAll();
      process.off(signal, onSignal);
      // Someone else listens too (vitest does for SIGTERM under --cpu-prof): ending the process is theirs to do.
      if (process.listenerCount(signal) > 0) return;
      // Nobody else: with no listener left Node restores the default action, so the same signal ends the process as
      // it would have without us (status 128 + n to a shell, and `signal` to a parent), whatever process.exit is
      // patched into while a test runs.
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
  return live;
}
