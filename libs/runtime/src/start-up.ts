/**
 * A service's start-up under its probes: the admin server answers "starting"
 * (/healthz 200, /readyz 503) while the service waits for what it needs, and
 * the service's own checks once it serves.
 */
import type { Logger } from "@sts/telemetry";
import type { AdminChecks, AdminServer } from "./admin.js";

/** What a service's start-up hands over once it serves. */
export interface StartedService {
  /** What the probes answer with from now on. */
  checks: AdminChecks;
  /** Stops what start-up started (servers, clients, the NATS connection); the admin server and telemetry close after it. */
  stop(): Promise<void>;
}

/** Options of {@link startUnderProbes}. */
export interface StartUpOptions {
  /**
   * Seconds start-up may take before liveness fails (0: no limit). Some waits have no end of their own (NATS, a bucket
   * its owner has not made yet): without this, a start wedged for good would look alive for ever instead of being
   * restarted, and shown as such.
   */
  deadlineSeconds?: number;
  logger?: Logger;
}

/** What the probes answer once start-up is overdue: not live, so that an orchestrator restarts the process. */
const OVERDUE: AdminChecks = { live: () => false, ready: () => false };

/**
 * Runs `start` while `admin` answers "starting", then hands `admin` the started service's checks. A failed start closes
 * `admin` first, so that its probes stop answering, and rethrows: runMain ends the process (fail closed). Past the
 * deadline, liveness fails until start-up completes.
 */
export async function startUnderProbes(
  admin: AdminServer | undefined,
  start: () => Promise<StartedService>,
  options: StartUpOptions = {},
): Promise<StartedService> {
  const { deadlineSeconds = 0, logger } = options;
  const overdue =
    deadlineSeconds > 0
      ? setTimeout(() => {
          logger?.error({ startup_deadline: deadlineSeconds }, "start-up has not completed within startup_deadline: /healthz fails from now on, for a restart");
          admin?.started(OVERDUE);
        }, deadlineSeconds * 1000).unref()
      : undefined;
  let started: StartedService;
  try {
    started = await start();
  } catch (err) {
    await admin?.close();
    throw err;
  } finally {
    clearTimeout(overdue);
  }
  admin?.started(started.checks);
  return started;
}

/** What the probes answer while the service stops: still live (it is draining), no longer ready for new work. */
export const DRAINING: AdminChecks = { live: () => true, ready: () => false };
