/**
 * The answers without a body (revocation, back-channel logout) carry the same cache headers as every other answer of
 * the credential-taking endpoints. Through a real gateway and real gRPC stand-ins for the issuer's Revoke and the
 * exchanger's BackchannelLogout.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, startGrpcServer, unary } from "@sts/grpc";
import type { GrpcServerHandle } from "@sts/grpc";
import { loadExchangeProto } from "@sts/proto";
import type { ExchangeServiceClient } from "@sts/proto";
import { createLogger } from "@sts/telemetry";
import { standInTokenService, testGateway } from "./gateway.fixture.js";
import type { StandIn } from "./gateway.fixture.js";

let issuer: StandIn;
let exchanger: GrpcServerHandle;
let exchangeClient: ExchangeServiceClient;
let gateway: Awaited<ReturnType<typeof testGateway>>;

beforeAll(async () => {
  issuer = await standInTokenService({ Revoke: unary(async () => ({})) });
  const proto = loadExchangeProto().sts.exchange.v1.ExchangeService;
  exchanger = await startGrpcServer({
    port: 0,
    services: [{ definition: proto.service, implementation: { BackchannelLogout: unary(async () => ({})) } }],
    logger: createLogger("exchanger", { level: "silent" }),
  });
  exchanger.setServing(true);
  exchangeClient = createClient(proto, exchanger.address);
  gateway = await testGateway({ token: issuer.client, exchange: exchangeClient });
});

afterAll(async () => {
  await gateway.close();
  exchangeClient.close();
  await exchanger.shutdown(0);
  await issuer.close();
});

/** POSTs `form` to `path`; the status, the cache headers and the body of the answer. */
async function post(path: string, form: Record<string, string>): Promise<[number, string | null, string | null, string]> {
  const r = await fetch(`${gateway.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${btoa("svc-a:s")}` },
    body: new URLSearchParams(form).toString(),
  });
  return [r.status, r.headers.get("cache-control"), r.headers.get("pragma"), await r.text()];
}

describe("a 200 without a body", () => {
  it("at revocation (RFC 7009 §2.2) is not to be stored, HTTP/1.0 caches included", async () => {
    expect(await post("/oauth2/revoke", { token: "a.b.c" })).toEqual([200, "no-store", "no-cache", ""]);
  });

  it("at back-channel logout carries the headers OIDC Back-Channel Logout §2.8 recommends", async () => {
    expect(await post("/oauth2/backchannel-logout", { logout_token: "a.b.c" })).toEqual([200, "no-store", "no-cache", ""]);
  });
});
