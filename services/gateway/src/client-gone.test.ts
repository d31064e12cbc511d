import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "node:http";
import { createClient, startGrpcServer, unary } from "@sts/grpc";
import type { CallContext, GrpcServerHandle } from "@sts/grpc";
import { loadExchangeProto } from "@sts/proto";
import type { ExchangeServiceClient } from "@sts/proto";
import { createLogger } from "@sts/telemetry";
import { waitFor } from "@sts/testkit";
import { testGateway } from "./gateway.fixture.js";

/** Calls the stand-in exchanger received: once settled, whether each saw its caller go before it would have minted. */
const received: Array<{ settled: boolean; cancelled: boolean }> = [];
let exchanger: GrpcServerHandle;
let client: ExchangeServiceClient;
let gateway: Awaited<ReturnType<typeof testGateway>>;

beforeAll(async () => {
  const proto = loadExchangeProto().sts.exchange.v1.ExchangeService;
  // A real gRPC exchanger that holds each call until its caller goes (or 5 s), as one waiting on the policy would.
  const exchange = unary(async (_req: unknown, ctx: CallContext) => {
    const seen = { settled: false, cancelled: false };
    received.push(seen);
    await waitFor(() => ctx.cancelled, { timeoutMs: 5_000, intervalMs: 10 }).catch(() => undefined);
    Object.assign(seen, { settled: true, cancelled: ctx.cancelled });
    throw new Error("never answered");
  });
  exchanger = await startGrpcServer({
    port: 0,
    services: [{ definition: proto.service, implementation: { Exchange: exchange } }],
    logger: createLogger("x", { level: "silent" }),
  });
  exchanger.setServing(true);
  client = createClient(proto, exchanger.address);
  gateway = await testGateway({ exchange: client });
});

afterAll(async () => {
  await gateway.close();
  client.close();
  await exchanger.shutdown(0);
});

describe("a client that leaves during a token exchange", () => {
  it("cancels the exchanger's call, so nothing is minted for nobody", async () => {
    const body = new URLSearchParams({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: "a.b.c",
      subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
      audience: "svc-b",
    }).toString();
    const req = request(`${gateway.url}/oauth2/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${btoa("svc-a:s")}` },
    });
    req.on("error", () => undefined);
    req.end(body);
    await waitFor(() => received.length === 1, { timeoutMs: 5_000, intervalMs: 10, message: "the exchanger never got the call" });
    req.destroy();
    await waitFor(() => received[0]?.settled, { timeoutMs: 10_000, intervalMs: 10, message: "the exchanger's call never settled" });
    expect(received[0]?.cancelled).toBe(true);
  });
});
