/** A service process's shutdown signals: the one place, with runMain, that ends a process. */
import type { Logger } from "@sts/telemetry";

/**
 * Runs fn once on SIGTERM or SIGINT, then exits (0, or 1 when fn fails): a service's main owns its process, libraries
 * never exit. Registered once for the process's whole life (startService switches what fn runs).
 */
export function onShutdownSignal(fn: () => Promise<void>, logger: Logger): void {
  let called = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (called) return;
    called = true;
    logger.info({ signal }, "shutting down");
    fn().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", handler);
  process.once("SIGINT", handler);
}
