/** Tests only: a gateway whose issuer client points at a port nothing listens on, so no request reaches an issuer. */
import { createClient } from "@sts/grpc";
import { loadTokenProto } from "@sts/proto";
import { createLogger } from "@sts/telemetry";
import { freePort } from "@sts/testkit";
import { startGateway } from "./server.js";
import type { GatewayOptions } from "./server.js";

/** Starts such a gateway on a free loopback port; close() stops it and its issuer client. */
export async function gatewayWithoutIssuer(
  options: Partial<Omit<GatewayOptions, "token" | "logger">> = {},
): Promise<{ port: number; url: string; close(): Promise<void> }> {
  const token = createClient(loadTokenProto().sts.token.v1.TokenService, `127.0.0.1:${await freePort()}`);
  const g = await startGateway({
    host: "127.0.0.1",
    port: 0,
    issuer: "http://127.0.0.1",
    token,
    logger: createLogger("gateway", { level: "silent" }),
    ...options,
  });
  return { port: g.port, url: g.url, close: async () => (await g.close(), token.close()) };
}
