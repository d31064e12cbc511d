/**
 * OpenTelemetry metrics for a service, read by Prometheus from the service's
 * admin port. Until initMetrics runs, the OTel API hands out no-op
 * instruments: a service without an admin port pays nothing for them. So
 * instruments are made when a component is built (after startTelemetry),
 * never at module load.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { metrics } from "@opentelemetry/api";
import type { Attributes, Counter, Histogram, Meter } from "@opentelemetry/api";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import { recordRuntimeMetrics } from "./runtime-metrics.js";

/**
 * Histogram boundaries for call durations, in seconds. The SDK's defaults
 * (0–10,000) suit milliseconds; these resolve the sub-millisecond to
 * few-millisecond range where this stack's calls live.
 */
export const DURATION_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A registered metrics pipeline. */
export interface MetricsHandle {
  /** Answers a Prometheus scrape (text exposition format). */
  scrape(request: IncomingMessage, response: ServerResponse): void;
  shutdown(): Promise<void>;
}

let registered: MetricsHandle | undefined;

/** Registers the process-wide meter provider with a Prometheus reader; later calls return the same handle. */
export function initMetrics(serviceName: string): MetricsHandle {
  if (!registered) {
    // The admin server serves the scrape; the exporter must not open a port of its own.
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const provider = new MeterProvider({ resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }), readers: [exporter] });
    metrics.setGlobalMeterProvider(provider);
    // GC pauses and event-loop delay: where this stack's tail latency comes from (README, Benchmarks).
    const stopRuntime = recordRuntimeMetrics(provider.getMeter("@sts/runtime"), DURATION_BUCKETS_S);
    registered = {
      scrape: (request, response) => exporter.getMetricsRequestHandler(request, response),
      shutdown: () => {
        stopRuntime();
        return provider.shutdown();
      },
    };
  }
  return registered;
}

/** How a cache answered: from itself, by asking upstream, or by joining the same question already in flight. */
export type CacheLookup = "hit" | "miss" | "joined";

/**
 * A counter of outcomes by `sts.result` (plus `fixed` attributes). The instrument is made at the first count, so one
 * declared at module load still counts once the service has started its metrics; each result's attribute set is made
 * once, here, because counting sits on request paths.
 */
export function resultCounter<R extends string>(
  scope: string,
  name: string,
  description: string,
  results: readonly R[],
  fixed: Attributes = {},
): (result: R) => void {
  const attributes = {} as Record<R, Attributes>;
  for (const result of results) attributes[result] = { ...fixed, "sts.result": result };
  let counter: Counter | undefined;
  return (result) => {
    counter ??= getMeter(scope).createCounter(name, { description });
    counter.add(1, attributes[result]);
  };
}

/** A counter of cache lookups by result (`sts.result`), for the caches in front of remote calls. */
export function cacheLookups(scope: string, name: string, what: string): (result: CacheLookup) => void {
  const description = `${what} asked of the cache, by result: hit, miss (asked upstream) or joined (waited on the same question in flight)`;
  return resultCounter(scope, name, description, ["hit", "miss", "joined"]);
}

/** A histogram of durations in seconds, with the stack's bucket boundaries. */
export function durationHistogram(scope: string, name: string, description: string): Histogram {
  return getMeter(scope).createHistogram(name, { unit: "s", description, advice: { explicitBucketBoundaries: DURATION_BUCKETS_S } });
}

/** A meter for a component (no-op until initMetrics). */
export function getMeter(name: string): Meter {
  return metrics.getMeter(name);
}
