/**
 * Structured JSON logs (pino) carrying the active trace and span ids, with
 * credentials and tokens redacted wherever they appear in a log object
 * (redact.ts), at any depth and in any case, and in the message.
 */
import { trace } from "@opentelemetry/api";
import { pino } from "pino";
import type { Logger } from "pino";
import { redactDeep, redactLogArguments } from "./redact.js";

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

/** pino redaction paths: each sensitive key at the top level and two levels down (redactDeep covers every level and spelling). */
export const REDACT_PATHS = SENSITIVE.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `req.headers.${k}`]);

/** Creates a logger for a component. */
export function createLogger(name: string, options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      name,
      level: options.level ?? "info",
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      // Errors are serialized inside redactDeep, so that their fields are searched too; pino must not serialize the
      // result again (it would take the plain object for an error of type "Object").
      serializers: { err: (value: unknown) => value },
      formatters: { log: (object) => redactDeep(object) as Record<string, unknown> },
      hooks: {
        // pino writes the message beside the log object, where the formatter above never sees it, and copies an
        // error's message there when the call gives none (`log.error(err)`): both are redacted on the way in.
        logMethod(args, method) {
          method.apply(this, redactLogArguments(args) as Parameters<typeof method>);
        },
      },
      mixin() {
        const span = trace.getActiveSpan()?.spanContext();
        return span ? { trace_id: span.traceId, span_id: span.spanId } : {};
      },
    },
    options.destination as pino.DestinationStream | undefined,
  );
}

export type { Logger };
