/**
 * What a service's runtime did during one measured run, read from its own
 * Prometheus scrape (the admin port): garbage-collection pauses by kind and
 * event-loop delay. A scrape right before the run resets the delay figures
 * (they cover the time since the previous scrape), one right after reads
 * them; the pause counts and sums are the difference of the two scrapes.
 */
import { EVENT_LOOP_SAMPLE_MS } from "@sts/telemetry";
import { freePort } from "@sts/testkit";
import { parseSamples, total } from "../prometheus.js";
import type { Sample } from "../prometheus.js";

/** An admin port for a service of the bench's stack: the env entry that sets it, and the scrape URL. */
export async function adminPort(service: string): Promise<{ env: Record<string, string>; url: string }> {
  const port = await freePort();
  return { env: { [`STS_${service.toUpperCase()}_ADMIN_PORT`]: String(port) }, url: `http://127.0.0.1:${port}/metrics` };
}

/** One scrape, parsed, and when it was made (performance.now(), ms). */
export async function scrapeRuntime(url: string): Promise<{ samples: Sample[]; at: number }> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`scrape ${url}: HTTP ${res.status}`);
  const text = await res.text();
  return { samples: parseSamples(text), at: performance.now() };
}

const ms = (seconds: number): string => (seconds * 1000).toFixed(seconds < 0.01 ? 1 : 0);

/** One line: pauses by kind (count, total, the largest bucket bound reached) and event-loop delay between two scrapes. */
export function describeRuntime(first: { samples: Sample[]; at: number }, second: { samples: Sample[]; at: number }): string {
  const before = first.samples;
  const after = second.samples;
  const seconds = (second.at - first.at) / 1000;
  const grew = (name: string, labels: Record<string, string>): number => total(after, name, labels) - total(before, name, labels);
  const pauses = (type: string): string => {
    const count = grew("v8js_gc_duration_count", { v8js_gc_type: type });
    const sum = grew("v8js_gc_duration_sum", { v8js_gc_type: type });
    // The smallest bucket bound every pause of the run fell under: how long the longest one was, to a bucket.
    const bounds = after
      .filter((s) => s.name === "v8js_gc_duration_bucket" && s.labels.v8js_gc_type === type && s.labels.le !== "+Inf")
      .map((s) => Number(s.labels.le))
      .sort((a, b) => a - b);
    const longest = bounds.find((le) => grew("v8js_gc_duration_bucket", { v8js_gc_type: type, le: String(le) }) === count);
    const under = count === 0 || longest === undefined ? "" : `, each under ${ms(longest)} ms`;
    return `${count} ${type} (${ms(sum)} ms in all${under})`;
  };
  // The delay figures are intervals of the service's sampling timer: less its period, how late it fired, which is how
  // long the event loop was held (a pause, or work in the way). Absent when the timer had not ticked since the first.
  const late = (name: string): string => {
    const value = after.find((s) => s.name === name)?.value;
    return value === undefined ? "n/a" : ms(Math.max(0, value - EVENT_LOOP_SAMPLE_MS / 1000));
  };
  const paused = (grew("v8js_gc_duration_sum", { v8js_gc_type: "major" }) + grew("v8js_gc_duration_sum", { v8js_gc_type: "minor" })) / seconds;
  return (
    `over ${seconds.toFixed(1)} s: GC pauses ${pauses("major")}, ${pauses("minor")}: ${(paused * 100).toFixed(1)} % of the time; ` +
    `a ${EVENT_LOOP_SAMPLE_MS} ms timer fired late by p50 ${late("nodejs_eventloop_delay_p50")} ms, p99 ${late("nodejs_eventloop_delay_p99")} ms, max ${late("nodejs_eventloop_delay_max")} ms`
  );
}
