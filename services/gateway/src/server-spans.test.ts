import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { initTelemetry } from "@sts/telemetry";
import { testGateway } from "./gateway.fixture.js";

const spans = new InMemorySpanExporter();
initTelemetry({ serviceName: "gateway-spans-test", spanProcessors: [new SimpleSpanProcessor(spans)] });

let gateway: Awaited<ReturnType<typeof testGateway>>;
beforeAll(async () => {
  // No issuer listens: a token request fails as it would with the issuer down.
  gateway = await testGateway({ deadlineMs: 500 });
});
afterAll(() => gateway.close());

/** The server span of the one request `send` makes, once the gateway ended it. */
async function spanOf(send: () => Promise<Response>): Promise<{ status: number; span: ReadableSpan }> {
  spans.reset();
  const res = await send();
  await res.arrayBuffer();
  const served = () => spans.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
  for (let i = 0; i < 100 && served().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const [span, ...more] = served();
  expect(more).toEqual([]);
  return { status: res.status, span: span as ReadableSpan };
}

describe("the gateway's server spans (OpenTelemetry HTTP server convention)", () => {
  it("name a served route by its template and carry its outcome", async () => {
    const { status, span } = await spanOf(() => fetch(`${gateway.url}/.well-known/oauth-authorization-server`));
    expect(status).toBe(200);
    expect(span.name).toBe("GET /.well-known/oauth-authorization-server");
    expect(span.attributes).toMatchObject({
      "http.request.method": "GET",
      "http.route": "/.well-known/oauth-authorization-server",
      "url.path": "/.well-known/oauth-authorization-server",
      "http.response.status_code": 200,
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("give a path nothing serves no route and no name of its own, so made-up paths cannot multiply span names", async () => {
    const { status, span } = await spanOf(() => fetch(`${gateway.url}/made/up/${"x".repeat(40)}?secret=1`));
    expect(status).toBe(404);
    expect(span.name).toBe("GET");
    expect(span.attributes["http.route"]).toBeUndefined();
    // The path only: a query may carry credentials.
    expect(span.attributes["url.path"]).toBe(`/made/up/${"x".repeat(40)}`);
  });

  it("leave a refused request (4xx) unset but mark an internal failure (5xx) as an error, with the OAuth code", async () => {
    const form = { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" } };
    const refused = await spanOf(() => fetch(`${gateway.url}/oauth2/token`, { ...form, body: "grant_type=client_credentials&grant_type=x" }));
    expect(refused.status).toBe(400);
    expect(refused.span.name).toBe("POST /oauth2/token");
    expect(refused.span.attributes).toMatchObject({ "http.response.status_code": 400, "error.type": "invalid_request" });
    expect(refused.span.status.code).toBe(SpanStatusCode.UNSET);

    const failed = await spanOf(() =>
      fetch(`${gateway.url}/oauth2/token`, {
        ...form,
        headers: { ...form.headers, authorization: `Basic ${btoa("c:s")}` },
        body: "grant_type=client_credentials",
      }),
    );
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect(failed.span.attributes).toMatchObject({ "http.response.status_code": failed.status, "error.type": "temporarily_unavailable" });
    expect(failed.span.status.code).toBe(SpanStatusCode.ERROR);
  });
});
