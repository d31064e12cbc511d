/** Gateway entry point: config → telemetry, signals and admin server → gRPC clients → HTTP server. */
import { maxBodyBytesFor, maxHeaderBytesFor } from "@sts/config";
import { runService } from "@sts/runtime";
import type { StartedService } from "@sts/runtime";
import { checkHealth, createClient, openGrpcCredentials } from "@sts/grpc";
import { loadClientsProto, loadExchangeProto, loadTokenProto } from "@sts/proto";
import type { Logger } from "@sts/telemetry";
import { readSettings } from "./config.js";
import { startGateway } from "./server.js";

/** Waits for what the gateway needs (its gRPC identity, the issuer's first health answer), then serves. */
async function serve({ config }: ReturnType<typeof readSettings>, logger: Logger): Promise<StartedService> {
  const tls = await openGrpcCredentials(config.grpc_tls, logger);
  const toIssuer = tls.channelTo("issuer");
  const issuerAddress = `${config.services.issuer.host}:${config.services.issuer.port}`;
  const token = createClient(loadTokenProto().sts.token.v1.TokenService, issuerAddress, toIssuer);
  const exchange = createClient(
    loadExchangeProto().sts.exchange.v1.ExchangeService,
    `${config.services.exchanger.host}:${config.services.exchanger.port}`,
    tls.channelTo("exchanger"),
  );
  // Ready when the issuer is SERVING (it is not while NATS is down) and the gateway holds its own gRPC identity (a
  // withdrawn Workload API SVID fails every call); the exchanger only serves exchanges.
  let issuerReady = await checkHealth(issuerAddress, "", 1000, toIssuer);
  // Its public /readyz is what a load balancer in front of it reads: no longer ready once it stops.
  let stopping = false;
  const ready = (): boolean => !stopping && issuerReady && tls.identity.held();
  // Its gRPC identity lost for good (its agent refusing the stream): only a restart helps.
  const live = (): boolean => !tls.lost();
  const probe = setInterval(() => {
    checkHealth(issuerAddress, "", 1000, toIssuer).then(
      (ok) => (issuerReady = ok),
      () => (issuerReady = false),
    );
  }, 2000);
  probe.unref();
  const clients = createClient(loadClientsProto().sts.token.v1.ClientService, issuerAddress, toIssuer);
  const gateway = await startGateway({
    clients,
    ready,
    live,
    host: config.services.gateway.bind,
    port: config.services.gateway.port,
    issuer: config.issuer,
    idTokenSigningAlgs: [config.keys.algorithm],
    maxBodyBytes: maxBodyBytesFor(config.tokens.max_token_bytes),
    maxHeaderBytes: maxHeaderBytesFor(config.tokens.max_token_bytes),
    incomingTrace: config.telemetry.incoming_trace,
    token,
    exchange,
    logger,
  });
  logger.info({ url: gateway.url, issuer: config.issuer }, "gateway listening");
  return {
    checks: { live, ready },
    stop: async () => {
      stopping = true;
      clearInterval(probe);
      await gateway.close();
      token.close();
      clients.close();
      exchange.close();
      tls.close();
    },
  };
}

runService("gateway", readSettings, serve);
