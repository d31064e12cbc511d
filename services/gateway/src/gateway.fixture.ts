/** Tests only: a gateway on a free loopback port, its issuer client pointing where the test says or where nothing listens. */
import { createClient } from "@sts/grpc";
import { loadTokenProto } from "@sts/proto";
import { createLogger } from "@sts/telemetry";
import { freePort } from "@sts/testkit";
import { startGateway } from "./server.js";
import type { GatewayOptions } from "./server.js";

/**
 * Starts such a gateway; without `token`, its issuer client dials a port nothing listens on, so no request reaches an
 * issuer. close() stops it and the issuer client it made.
 */
export async function testGateway(options: Partial<Omit<GatewayOptions, "logger">> = {}): Promise<{ port: number; url: string; close(): Promise<void> }> {
  const token = options.token ?? createClient(loadTokenProto().sts.token.v1.TokenService, `127.0.0.1:${await freePort()}`);
  const owned = token !== options.token;
  const g = await startGateway({
    host: "127.0.0.1",
    port: 0,
    issuer: "http://127.0.0.1",
    logger: createLogger("gateway", { level: "silent" }),
    ...options,
    token,
  });
  return {
    port: g.port,
    url: g.url,
    close: async () => {
      await g.close();
      if (owned) token.close();
    },
  };
}
