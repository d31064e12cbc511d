/** A service process's shutdown signals: the one place, with runMain, that ends a process. */
import type { Logger } from "@sts/telemetry";

/**
 * Longest a shutdown may take before the process ends anyway (status 1): below the 15 s grace period of the
 * deploy/k8s manifests, so that a stop held up (a client keeping a connection open, a peer that never answers) is
 * logged as such rather than ended by a silent SIGKILL. A service drains its gRPC calls for 5 s.
 */
export const SHUTDOWN_DEADLINE_MS = 12_000;

/**
 * Runs fn once on SIGTERM or SIGINT, then exits (0, or 1 when fn fails or has not finished within `deadlineMs`): a
 * service's main owns its process, libraries never exit. Registered once for the process's whole life (startService
 * switches what fn runs).
 */
export function onShutdownSignal(fn: () => Promise<void>, logger: Logger, deadlineMs = SHUTDOWN_DEADLINE_MS): void {
  let called = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (called) return;
    called = true;
    logger.info({ signal }, "shutting down");
    // Not unref'd: a stop that hangs on nothing the event loop holds must still end the process.
    const deadline = setTimeout(() => {
      logger.error({ deadline_ms: deadlineMs }, "shutdown did not finish in time: exiting");
      process.exit(1);
    }, deadlineMs);
    fn().then(
      () => {
        clearTimeout(deadline);
        process.exit(0);
      },
      (err: unknown) => {
        clearTimeout(deadline);
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", handler);
  process.once("SIGINT", handler);
}
