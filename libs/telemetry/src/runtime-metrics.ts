/**
 * The runtime's own figures, under the OpenTelemetry semantic-convention
 * names: garbage-collection pauses by kind (`v8js.gc.duration`), event-loop
 * delay (`nodejs.eventloop.delay.*`) and heap in use by space
 * (`v8js.memory.heap.used`). In this stack the tail latency is GC pauses
 * (README, Benchmarks), so an operator's Prometheus should see them.
 *
 * Written here rather than taken from @opentelemetry/instrumentation-runtime-node
 * (0.36, the release on our SDK's line), which was measured to record only the
 * first entry of each batch the GC observer delivers (a pause in the same
 * event-loop turn as another was lost) and which patches `require` for the
 * whole process when constructed, for an instrumentation that hooks no module.
 */
import { PerformanceObserver, constants, monitorEventLoopDelay } from "node:perf_hooks";
import { getHeapSpaceStatistics } from "node:v8";
import type { Meter } from "@opentelemetry/api";

/** GC kinds as perf_hooks reports them, named as `v8js.gc.type` values. */
const GC_KINDS: ReadonlyMap<number, string> = new Map([
  [constants.NODE_PERFORMANCE_GC_MAJOR, "major"],
  [constants.NODE_PERFORMANCE_GC_MINOR, "minor"],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, "incremental"],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, "weakcb"],
]);

/** The `v8js.gc.type` values. */
export const GC_TYPES: readonly string[] = [...GC_KINDS.values()];

/** Each kind's attributes, made once: recording sits in the GC observer. */
const GC_ATTRIBUTES = new Map([...GC_KINDS].map(([kind, type]) => [kind, { "v8js.gc.type": type }]));

/** How often the event-loop delay is sampled, in ms: each sample is one interval of a timer this often, lateness included. */
export const EVENT_LOOP_SAMPLE_MS = 10;

const DELAY_FIGURES = ["min", "max", "mean", "stddev", "p50", "p90", "p99"] as const;

/** Starts recording; the returned function stops it. */
export function recordRuntimeMetrics(meter: Meter, durationBuckets: number[]): () => void {
  const gc = meter.createHistogram("v8js.gc.duration", {
    unit: "s",
    description: "Garbage-collection pauses by kind (v8js.gc.type: major, minor, incremental, weakcb)",
    advice: { explicitBucketBoundaries: durationBuckets },
  });
  const observer = new PerformanceObserver((list) => {
    // Every entry: the observer hands over all pauses since its last call, and one turn can hold several.
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      gc.record(entry.duration / 1000, (kind !== undefined && GC_ATTRIBUTES.get(kind)) || { "v8js.gc.type": "unknown" });
    }
  });
  observer.observe({ entryTypes: ["gc"] });

  const delay = monitorEventLoopDelay({ resolution: EVENT_LOOP_SAMPLE_MS });
  delay.enable();
  const gauges = DELAY_FIGURES.map((figure) =>
    meter.createObservableGauge(`nodejs.eventloop.delay.${figure}`, {
      unit: "s",
      description: `Event-loop delay since the previous collection, ${figure}: intervals of a ${EVENT_LOOP_SAMPLE_MS} ms timer, its lateness included`,
    }),
  );
  const heapUsed = meter.createObservableGauge("v8js.memory.heap.used", { unit: "By", description: "Heap in use, by V8 heap space (v8js.heap.space.name)" });
  const collect = (result: { observe(o: (typeof gauges)[number], value: number, attributes?: Record<string, string>): void }): void => {
    // Until the timer has ticked, the histogram holds nothing to say (its min reads as a huge number).
    if (delay.count > 0) {
      const values: Record<(typeof DELAY_FIGURES)[number], number> = {
        min: delay.min,
        max: delay.max,
        mean: delay.mean,
        stddev: delay.stddev,
        p50: delay.percentile(50),
        p90: delay.percentile(90),
        p99: delay.percentile(99),
      };
      DELAY_FIGURES.forEach((figure, i) => result.observe(gauges[i] as (typeof gauges)[number], values[figure] / 1e9));
      delay.reset();
    }
    for (const space of getHeapSpaceStatistics()) result.observe(heapUsed, space.space_used_size, { "v8js.heap.space.name": space.space_name });
  };
  meter.addBatchObservableCallback(collect, [...gauges, heapUsed]);
  return () => {
    meter.removeBatchObservableCallback(collect, [...gauges, heapUsed]);
    observer.disconnect();
    delay.disable();
  };
}
