/**
 * A service's start-up under its probes: the admin server answers "starting"
 * (/healthz 200, /readyz 503) while the service waits for what it needs, and
 * the service's own checks once it serves.
 */
import type { AdminChecks, AdminServer } from "./admin.js";

/** What a service's start-up hands over once it serves. */
export interface StartedService {
  /** What the probes answer with from now on. */
  checks: AdminChecks;
  /** Stops what start-up started (servers, clients, the NATS connection); the admin server and telemetry close after it. */
  stop(): Promise<void>;
}

/**
 * Runs `start` while `admin` answers "starting", then hands `admin` the started service's checks. A failed start closes
 * `admin` first, so that its probes stop answering, and rethrows: runMain ends the process (fail closed).
 */
export async function startUnderProbes(admin: AdminServer | undefined, start: () => Promise<StartedService>): Promise<StartedService> {
  let started: StartedService;
  try {
    started = await start();
  } catch (err) {
    await admin?.close();
    throw err;
  }
  admin?.started(started.checks);
  return started;
}
