/**
 * OpenTelemetry tracing for a service: W3C trace context propagation,
 * AsyncLocalStorage context, and an exporter chosen by config. With exporter
 * "none" spans are still created (log lines get trace ids and context still
 * flows through gRPC and NATS) but nothing is exported, and only a trace a
 * caller sampled is recorded, so that its decision reaches the services after.
 *
 * W3C baggage is deliberately not propagated. Nothing in the stack reads it,
 * and its entries are whatever a caller of a gRPC port wrote (up to 8 KiB):
 * propagated, they would travel on into every call the stack makes for that
 * caller (Mint, Decide) and into the headers of the events stored in
 * JetStream beside the audit trail, a channel for unchecked data that no
 * check of ours ever saw.
 */
import { ROOT_CONTEXT, context, propagation, trace } from "@opentelemetry/api";
import type { Context, SpanOptions, Tracer } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-node";
import type { SpanProcessor } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";

/** Options of initTelemetry. */
export interface TelemetryOptions {
  serviceName: string;
  exporter?: "none" | "console" | "otlp";
  otlpEndpoint?: string;
  /** Fraction of root traces sampled (parent decisions are followed). */
  sampleRatio?: number;
  /** Extra span processors (tests use an in-memory exporter). */
  spanProcessors?: SpanProcessor[];
}

let provider: NodeTracerProvider | undefined;

/** Sets up tracing once per process; later calls return the same handle. */
export function initTelemetry(options: TelemetryOptions): { shutdown(): Promise<void> } {
  if (!provider) {
    const processors: SpanProcessor[] = [...(options.spanProcessors ?? [])];
    if (options.exporter === "console") processors.push(new BatchSpanProcessor(new ConsoleSpanExporter()));
    if (options.exporter === "otlp") processors.push(new BatchSpanProcessor(new OTLPTraceExporter(options.otlpEndpoint ? { url: options.otlpEndpoint } : {})));
    provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
      // Nothing exports spans: begin no sampled trace, since recording costs CPU on the hot path (ids and propagation still
      // work). A caller's sampled decision is kept, though: turned off here, it would switch tracing off for every
      // service after this one, exporters or not.
      sampler:
        processors.length === 0
          ? new ParentBasedSampler({ root: new AlwaysOffSampler() })
          : new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio ?? 1) }),
      spanProcessors: processors,
    });
    // Trace context only: a caller's baggage is dropped at the first hop (see above).
    provider.register({ propagator: new W3CTraceContextPropagator() });
  }
  const current = provider;
  return { shutdown: () => current.shutdown() };
}

/** A tracer for a component. */
export function getTracer(name: string): Tracer {
  return trace.getTracer(name);
}

/** Writes the active trace context into a string map (gRPC metadata, NATS headers). */
export function injectTraceContext(carrier: Record<string, string>, ctx: Context = context.active()): Record<string, string> {
  propagation.inject(ctx, carrier);
  return carrier;
}

/** Reads a trace context from a string map. */
export function extractTraceContext(carrier: Record<string, string | undefined>): Context {
  return propagation.extract(context.active(), carrier, {
    keys: (c) => Object.keys(c),
    get: (c, key) => c[key] ?? undefined,
  });
}

/** A server's answer to a caller's W3C trace context: join the caller's trace, or start one of its own linked to it. */
export type IncomingTrace = "continue" | "link";

let rpcIncomingTrace: IncomingTrace = "continue";

/** Sets how this process's gRPC servers treat their callers' trace context (`telemetry.grpc_incoming_trace`). */
export function setRpcIncomingTrace(mode: IncomingTrace): void {
  rpcIncomingTrace = mode;
}

/** How this process's gRPC servers treat their callers' trace context. */
export function getRpcIncomingTrace(): IncomingTrace {
  return rpcIncomingTrace;
}

/**
 * Where the server span of a call that brought `carrier` starts. `continue`: in the caller's trace. `link`: in a new
 * trace, linked to the caller's, so that a caller across a trust boundary chooses neither the trace id its work (and
 * the events it leaves) is filed under nor whether it is sampled (OpenTelemetry's advice for public endpoints).
 */
export function serverSpanStart(carrier: Record<string, string | undefined>, mode: IncomingTrace): { parent: Context; options: SpanOptions } {
  const caller = extractTraceContext(carrier);
  if (mode === "continue") return { parent: caller, options: {} };
  const linked = trace.getSpanContext(caller);
  return { parent: ROOT_CONTEXT, options: { root: true, ...(linked && { links: [{ context: linked }] }) } };
}
