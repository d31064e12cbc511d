export { initTelemetry, getTracer, injectTraceContext, extractTraceContext } from "./tracing.js";
export type { TelemetryOptions } from "./tracing.js";
export { initMetrics, getMeter, DURATION_BUCKETS_S } from "./metrics.js";
export type { MetricsHandle } from "./metrics.js";
export { createLogger, REDACT_PATHS } from "./logger.js";
export type { Logger } from "./logger.js";
