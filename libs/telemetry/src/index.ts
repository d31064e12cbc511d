export { initTelemetry, getTracer, injectTraceContext, extractTraceContext, serverSpanStart, setRpcIncomingTrace, getRpcIncomingTrace } from "./tracing.js";
export type { TelemetryOptions, IncomingTrace } from "./tracing.js";
export { initMetrics, getMeter, cacheLookups, resultCounter, durationHistogram, DURATION_BUCKETS_S } from "./metrics.js";
export type { CacheLookup, MetricsHandle } from "./metrics.js";
export { EVENT_LOOP_SAMPLE_MS, GC_TYPES } from "./runtime-metrics.js";
export { createLogger, REDACT_PATHS } from "./logger.js";
export type { Logger } from "./logger.js";
