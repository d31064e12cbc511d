import { describe, expect, it } from "vitest";
import { trace } from "@opentelemetry/api";
import { extractTraceContext, initTelemetry, injectTraceContext } from "./index.js";

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
