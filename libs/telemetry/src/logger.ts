/**
 * Structured JSON logs (pino) carrying the active trace and span ids, with
 * credentials and tokens redacted wherever they appear in a log object
 * (redact.ts), at any depth and in any case, in the message, and in a
 * child logger's bindings.
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
  const logger = pino(
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
  return redactingBindings(logger);
}

/**
 * `logger` with the bindings of its children (`child`, `setBindings`) redacted on the way in: pino serializes them once,
 * when they are given, through neither the log formatter nor the hook above, so `child({ headers })` wrote an
 * `Authorization` header as it was. A child is made from its parent as prototype, so every descendant redacts too.
 */
function redactingBindings(logger: Logger): Logger {
  // pino's own methods, as the plain functions they are (their generic types ask for a `this` of another shape).
  const { child, setBindings } = logger as unknown as BindingMethods;
  const redacted = (bindings: pino.Bindings): pino.Bindings => redactDeep(bindings) as pino.Bindings;
  const methods: BindingMethods = {
    child(bindings, childOptions) {
      return child.call(this, redacted(bindings), childOptions);
    },
    setBindings(bindings) {
      setBindings.call(this, redacted(bindings));
    },
  };
  return Object.assign(logger, methods as unknown as Pick<Logger, "child" | "setBindings">);
}

/** The methods of a pino logger that take bindings. */
interface BindingMethods {
  child: (this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) => Logger;
  setBindings: (this: Logger, bindings: pino.Bindings) => void;
}

export type { Logger };
