/**
 * Structured JSON logs (pino) carrying the active trace and span ids, with
 * credentials and tokens redacted wherever they appear in the first levels
 * of a log object.
 */
import { trace } from "@opentelemetry/api";
import { pino } from "pino";
import type { Logger } from "pino";

const SENSITIVE = [
  "authorization",
  "client_secret",
  "client_assertion",
  "assertion",
  "password",
  "secret",
  "private_key",
  "token",
  "access_token",
  "refresh_token",
  "id_token",
  "subject_token",
  "actor_token",
  "internalAuthorization",
];

/** Redaction paths: each sensitive key at the top level and two levels down. */
export const REDACT_PATHS = SENSITIVE.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `req.headers.${k}`]);

/** Creates a logger for a component. */
export function createLogger(name: string, options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      name,
      level: options.level ?? "info",
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      mixin() {
        const span = trace.getActiveSpan()?.spanContext();
        return span ? { trace_id: span.traceId, span_id: span.spanId } : {};
      },
    },
    options.destination as pino.DestinationStream | undefined,
  );
}

export type { Logger };
