import { describe, expect, it } from "vitest";
import { ROOT_CONTEXT, trace } from "@opentelemetry/api";
import { extractTraceContext, getTracer, initTelemetry, injectTraceContext } from "./index.js";

initTelemetry({ serviceName: "tracing-test" });

describe("trace context propagation", () => {
  it("carries a caller's W3C trace context on, but never its baggage (a caller's own data, read by nothing here)", () => {
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const caller = extractTraceContext({ traceparent, tracestate: "vendor=1", baggage: "user.role=admin,smuggled=x" });
    expect(trace.getSpanContext(caller)?.traceId).toBe("0af7651916cd43dd8448eb211c80319c");
    const onward = injectTraceContext({}, caller);
    expect(onward).toEqual({ traceparent, tracestate: "vendor=1" });
  });
});

describe("a service without an exporter", () => {
  const traceId = "0af7651916cd43dd8448eb211c80319c";
  /** The traceparent a span this service starts under `parent` sends on. */
  const sentOn = (parent = ROOT_CONTEXT): string | undefined => {
    const span = getTracer("tracing-test").startSpan("hop", {}, parent);
    const carrier = injectTraceContext({}, trace.setSpan(parent, span));
    span.end();
    return carrier.traceparent;
  };

  it("keeps a caller's sampled decision for the services after it, rather than turning their tracing off", () => {
    expect(sentOn(extractTraceContext({ traceparent: `00-${traceId}-b7ad6b7169203331-01` }))).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  });

  it("samples nothing of its own: a trace it begins, or one its caller did not sample, goes on unsampled", () => {
    expect(sentOn()).toMatch(/-00$/);
    expect(sentOn(extractTraceContext({ traceparent: `00-${traceId}-b7ad6b7169203331-00` }))).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
  });
});
