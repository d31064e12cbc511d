import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { OAuthError } from "@sts/errors";
import { loadTokenProto } from "@sts/proto";
import type { TokenServiceClient } from "@sts/proto";
import { createLogger, initTelemetry, setRpcIncomingTrace } from "@sts/telemetry";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { context, trace } from "@opentelemetry/api";
import { grpcHealthy } from "@sts/testkit";
import { connect } from "node:http2";
import { MAX_CONCURRENT_STREAMS, answerBatch, callUnary, createClient, hasBearerSecret, startGrpcServer, unary } from "./index.js";
import type { GrpcServerHandle } from "./index.js";

const spans = new InMemorySpanExporter();
initTelemetry({ serviceName: "grpc-test", spanProcessors: [new SimpleSpanProcessor(spans)] });
const logger = createLogger("test", { level: "silent" });
const proto = loadTokenProto();
let server: GrpcServerHandle;
let client: TokenServiceClient;

/** A promise settled from a handler; waiting on it is bounded, so a handler that never ran fails the test instead of hanging it. */
interface Latch<T> {
  settle(value: T): void;
  wait(ms: number, what: string): Promise<T>;
}

function latch<T>(): Latch<T> {
  let settle!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (settle = resolve));
  return {
    settle,
    wait: (ms, what) => Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms).unref())]),
  };
}

/** Polls until cond() holds; false if it did not within ms. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/** Set by a test before its call; the handler reports to it. */
let lateRead: Latch<boolean> | undefined;
let listening: Latch<{ abortedBeforeListening: boolean; reason: string }> | undefined;
/** Long enough that the call surely reaches the handler first on a loaded machine; the deadline still passes during the test. */
const DEADLINE_MS = 1000;

beforeAll(async () => {
  server = await startGrpcServer({
    port: 0,
    logger,
    reflection: { protoFiles: ["sts/token/v1/token.proto"] },
    services: [
      {
        definition: proto.sts.token.v1.TokenService.service,
        implementation: {
          GetJwks: unary(async () => ({ jwks_json: "{}" }), { name: "GetJwks", logger }),
          Revoke: unary(
            async () => {
              throw new OAuthError("unauthorized_client", "not yours");
            },
            { logger },
          ),
          Introspect: unary(
            async () => {
              throw new Error("database password is hunter2");
            },
            { logger },
          ),
          // Reads the signal first and waits on it: the abort must reach a handler that is already listening.
          UserInfo: unary(
            async (_req, ctx) => {
              const signal = ctx.signal;
              const abortedBeforeListening = signal.aborted;
              if (!abortedBeforeListening) await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
              listening?.settle({ abortedBeforeListening, reason: String((signal.reason as Error).message) });
              return {};
            },
            { logger },
          ),
          // Reads the signal only after the deadline has passed: the lazily made signal must then be aborted.
          AuthenticateClient: unary(
            async (_req, ctx) => {
              const deadline = ctx.deadline?.getTime() ?? Date.now();
              await until(() => Date.now() > deadline, 10_000);
              const signal = ctx.signal;
              lateRead?.settle(await until(() => signal.aborted, 5_000));
              return { client_id: "late" };
            },
            { logger },
          ),
        },
      },
    ],
  });
  client = createClient(proto.sts.token.v1.TokenService, server.address);
});

afterAll(async () => {
  client?.close();
  await server?.shutdown(100);
});

async function failure(p: Promise<unknown>): Promise<OAuthError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OAuthError) return err;
    throw err;
  }
  throw new Error("expected a failure");
}

describe("startGrpcServer's connection bounds", () => {
  it("announces a bounded SETTINGS_MAX_CONCURRENT_STREAMS, not the 2^32 - 1 grpc-js and Node leave", async () => {
    const session = connect(`http://${server.address}`);
    session.on("error", () => undefined);
    try {
      const settings = await Promise.race([
        new Promise<{ maxConcurrentStreams?: number }>((resolve) => session.once("remoteSettings", resolve)),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no SETTINGS within 5 s")), 5_000).unref()),
      ]);
      expect(settings.maxConcurrentStreams).toBe(MAX_CONCURRENT_STREAMS);
      expect(MAX_CONCURRENT_STREAMS).toBeLessThanOrEqual(1000);
    } finally {
      session.destroy();
    }
  });
});

describe("the gRPC adapter and client", () => {
  it("carries an OAuthError across the wire with its code and description", async () => {
    const err = await failure(callUnary(client, "Revoke", {}));
    expect(err.code).toBe("unauthorized_client");
    expect(err.description).toBe("not yours");
  });

  it("turns an unexpected error into server_error without leaking it", async () => {
    const err = await failure(callUnary(client, "Introspect", {}));
    expect(err.code).toBe("server_error");
    expect(err.description).not.toContain("hunter2");
  });

  it("gives temporarily_unavailable past the deadline and aborts the handler's signal", async () => {
    lateRead = latch();
    const err = await failure(callUnary(client, "AuthenticateClient", {}, { deadlineMs: DEADLINE_MS }));
    expect(err.code).toBe("temporarily_unavailable");
    expect(await lateRead.wait(10_000, "the handler did not report its signal")).toBe(true);
  });

  it("aborts a handler that listens on its signal when the deadline passes", async () => {
    listening = latch();
    const err = await failure(callUnary(client, "UserInfo", {}, { deadlineMs: DEADLINE_MS }));
    expect(err.code).toBe("temporarily_unavailable");
    const seen = await listening.wait(10_000, "the handler's signal was not aborted");
    // The handler was already listening when the abort came, and was woken by it.
    expect(seen.abortedBeforeListening).toBe(false);
    expect(seen.reason).toMatch(/deadline exceeded|cancelled/);
  });

  it("refuses an oversized request before the handler runs", async () => {
    const err = await failure(callUnary(client, "Revoke", { token: "x".repeat(100_000) }));
    expect(err.code).toBe("invalid_request");
  });

  it("reports NOT_SERVING until the service is ready, then SERVING", async () => {
    expect(await grpcHealthy(server.address)).toBe(false);
    server.setServing(true);
    expect(await grpcHealthy(server.address)).toBe(true);
    expect(await grpcHealthy(server.address, "sts.token.v1.TokenService")).toBe(true);
    server.setServing(false);
    expect(await grpcHealthy(server.address)).toBe(false);
  });

  it("carries the trace context through gRPC metadata (client and server spans share the trace)", async () => {
    spans.reset();
    const parent = trace.getTracer("test").startSpan("caller");
    await context.with(trace.setSpan(context.active(), parent), () => callUnary(client, "GetJwks", {}));
    parent.end();
    const finished = spans.getFinishedSpans();
    const server = finished.find((s) => s.name === "grpc.server/GetJwks");
    const clientSpan = finished.find((s) => s.name === "grpc.client/GetJwks");
    expect(server?.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(clientSpan?.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(server?.parentSpanContext?.spanId).toBe(clientSpan?.spanContext().spanId);
  });

  it("with grpc_incoming_trace link, starts a trace of its own, linked to the caller's, whose sampling flag it does not take", async () => {
    spans.reset();
    setRpcIncomingTrace("link");
    try {
      // A caller outside the mesh picks a trace id and turns sampling off: its call must still be traced, in a trace
      // of the server's own.
      const traceId = "0af7651916cd43dd8448eb211c80319c";
      const metadata = new grpc.Metadata();
      metadata.set("traceparent", `00-${traceId}-b7ad6b7169203331-00`);
      await new Promise<void>((resolve, reject) => client.GetJwks({}, metadata, (err) => (err ? reject(err) : resolve())));
      const server = spans.getFinishedSpans().find((s) => s.name === "grpc.server/GetJwks");
      expect(server).toBeDefined();
      expect(server?.spanContext().traceId).not.toBe(traceId);
      expect(server?.parentSpanContext).toBeUndefined();
      expect(server?.links.map((l) => l.context.traceId)).toEqual([traceId]);
    } finally {
      setRpcIncomingTrace("continue");
    }
  });

  it("with grpc_incoming_trace link, starts each batch item's span in a trace of its own too, linked to the caller's", async () => {
    spans.reset();
    setRpcIncomingTrace("link");
    try {
      // TokenBatch takes any caller of the issuer's port: an item's trace context is as untrusted as a call's.
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      await answerBatch([{ request: 1, trace_context: { traceparent: `00-${traceId}-00f067aa0ba902b7-00` } }], async () => "ok", { name: "Test" });
      const item = spans.getFinishedSpans().find((s) => s.name === "Test.item");
      expect(item).toBeDefined();
      expect([item?.spanContext().traceId === traceId, item?.parentSpanContext]).toEqual([false, undefined]);
      expect(item?.links.map((l) => l.context.traceId)).toEqual([traceId]);
    } finally {
      setRpcIncomingTrace("continue");
    }
  });

  it("serves reflection listing the service", async () => {
    const reflection = grpc.loadPackageDefinition(
      (await import("@grpc/proto-loader")).loadSync("grpc/reflection/v1alpha/reflection.proto", {
        keepCase: true,
        includeDirs: [new URL("../../../node_modules/@grpc/reflection/build/proto/", import.meta.url).pathname],
      }),
    ) as unknown as {
      grpc: {
        reflection: {
          v1alpha: {
            ServerReflection: new (
              a: string,
              c: grpc.ChannelCredentials,
            ) => grpc.Client & { ServerReflectionInfo(): grpc.ClientDuplexStream<object, { list_services_response?: { service: Array<{ name: string }> } }> };
          };
        };
      };
    };
    const rc = new reflection.grpc.reflection.v1alpha.ServerReflection(server.address, grpc.credentials.createInsecure());
    const names = await new Promise<string[]>((resolve, reject) => {
      const stream = rc.ServerReflectionInfo();
      stream.on("data", (msg) => {
        resolve((msg.list_services_response?.service ?? []).map((s: { name: string }) => s.name));
        stream.end();
      });
      stream.on("error", reject);
      stream.write({ list_services: "*" });
    });
    rc.close();
    expect(names).toContain("sts.token.v1.TokenService");
  });
});

describe("bearer secrets", () => {
  const withAuthorization = (value?: string): grpc.Metadata => {
    const m = new grpc.Metadata();
    if (value !== undefined) m.set("authorization", value);
    return m;
  };

  it("matches only `Bearer <secret>` exactly (the scheme in any case, RFC 9110 §11.1), and nothing without a secret", () => {
    for (const value of ["Bearer s3cret-value", "bearer s3cret-value", "BEARER  s3cret-value"]) {
      expect(hasBearerSecret(withAuthorization(value), "s3cret-value"), value).toBe(true);
    }
    for (const value of [undefined, "Bearer ", "Bearer s3cret-valu", "Bearer s3cret-value2", "Basic s3cret-value", "Bearers3cret-value"]) {
      expect(hasBearerSecret(withAuthorization(value), "s3cret-value"), String(value)).toBe(false);
    }
    expect(hasBearerSecret(withAuthorization("Bearer "), "")).toBe(false);
  });
});
