/** Tests only: a gateway on a free loopback port, its issuer client pointing where the test says or where nothing listens. */
import { createClient, startGrpcServer, unary } from "@sts/grpc";
import { loadTokenProto } from "@sts/proto";
import type { TokenBatchRequest__Output, TokenBatchResponse, TokenServiceClient } from "@sts/proto";
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

/** A real gRPC stand-in for the issuer whose TokenBatch answers as `answer` says, and a client of it; close() stops both. */
export function standInIssuer(answer: (req: TokenBatchRequest__Output) => Promise<TokenBatchResponse>): Promise<StandIn> {
  return standInTokenService({ TokenBatch: unary(answer) });
}

/** gRPC handlers by method name. */
type Handlers = Parameters<typeof startGrpcServer>[0]["services"][number]["implementation"];

/** A stand-in issuer and the client the gateway calls it with. */
export interface StandIn {
  client: TokenServiceClient;
  close(): Promise<void>;
}

/** A real gRPC server answering the TokenService methods given (the rest UNIMPLEMENTED), and a client of it. */
export async function standInTokenService(implementation: Handlers): Promise<StandIn> {
  const proto = loadTokenProto().sts.token.v1.TokenService;
  const issuer = await startGrpcServer({
    port: 0,
    services: [{ definition: proto.service, implementation }],
    logger: createLogger("issuer", { level: "silent" }),
  });
  issuer.setServing(true);
  const client = createClient(proto, issuer.address);
  return {
    client,
    close: async () => {
      client.close();
      await issuer.shutdown(0);
    },
  };
}
