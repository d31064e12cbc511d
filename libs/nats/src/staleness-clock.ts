/**
 * The clock that staleness bounds are measured on: a watched copy's age, how
 * long NATS has been away. The wall clock can be stepped back (NTP correcting
 * a clock that ran ahead, a VM restored from a snapshot), and a bound measured
 * on it would then take a copy confirmed before the step for one confirmed up
 * to the step's length later: it would fail open for that long. The monotonic
 * clock is never stepped but stops while the machine is suspended, when
 * revocations go on being made elsewhere. This clock advances with the
 * monotonic one and jumps forward whenever the wall clock gets further ahead
 * of it than it has been, so a step either way can only make a copy look
 * older (fail closed), never younger.
 */

/** The most the wall clock has been ahead of the monotonic clock, in ms. */
let wallAhead = -Infinity;

/**
 * Milliseconds on the staleness clock: comparable only with other readings of it in this process (they are close to
 * milliseconds since the epoch until the wall clock is stepped back).
 */
export function stalenessNow(): number {
  // The global performance (not node:perf_hooks'), so that a test's fake timers move it.
  const monotonic = performance.now();
  wallAhead = Math.max(wallAhead, Date.now() - monotonic);
  return monotonic + wallAhead;
}
