/**
 * A service's clock. STS_CLOCK_OFFSET (seconds, tests only) shifts it, so an
 * end-to-end test can run one process ahead of or behind the others.
 */

/** Seconds and milliseconds since epoch, on the same shifted clock. */
export interface ServiceClock {
  now: () => number;
  nowMs: () => number;
}

/** The clock of a service given its environment. */
export function serviceClock(env: NodeJS.ProcessEnv): ServiceClock {
  const offsetMs = (Number(env.STS_CLOCK_OFFSET ?? 0) || 0) * 1000;
  return { now: () => Math.floor((Date.now() + offsetMs) / 1000), nowMs: () => Date.now() + offsetMs };
}
