export { initTelemetry, getTracer, injectTraceContext, extractTraceContext } from "./tracing.js";
export type { TelemetryOptions } from "./tracing.js";
export { createLogger, REDACT_PATHS } from "./logger.js";
export type { Logger } from "./logger.js";
