/** Sidecar entry point: config → telemetry, signals and health listener → NATS revocations → JWKS → exchanger client → listeners. */
import { basicAuthorization } from "@sts/client-auth";
import { maxHeaderBytesFor } from "@sts/config";
import { X509SvidStreams, createClient, openGrpcCredentials } from "@sts/grpc";
import { ExchangeCache, openStackTokens } from "@sts/mesh";
import { loadExchangeProto } from "@sts/proto";
import { connectStack, runMain, startTelemetry } from "@sts/runtime";
import type { StartedService } from "@sts/runtime";
import type { Logger } from "@sts/telemetry";
import { readSettings } from "./config.js";
import { startSidecar } from "./sidecar.js";

/** Waits for what the sidecar needs (NATS, the issuer's bucket, its identities), then serves. */
async function serve({ config, workload, sidecar, secret }: ReturnType<typeof readSettings>, logger: Logger): Promise<StartedService> {
  const nats = await connectStack("sidecar", config, logger);
  // The issuer owns the bucket: a sidecar only reads it, waiting (unready) until it exists. Cut off from NATS, it stops
  // trusting its copy after a bounded time and refuses with 503.
  const tokens = await openStackTokens(nats, { issuer: config.issuer, audience: sidecar.audience ?? workload, tokens: config.tokens, logger });
  // grpc_tls and tls on one agent's socket follow one stream: the agent has one identity for this process, not one per section.
  const svidStreams = new X509SvidStreams();
  const grpcTls = await openGrpcCredentials(config.grpc_tls, logger, svidStreams);
  const exchanger = createClient(
    loadExchangeProto().sts.exchange.v1.ExchangeService,
    `${config.services.exchanger.host}:${config.services.exchanger.port}`,
    grpcTls.channelTo("exchanger"),
  );
  const sidecarHandle = await startSidecar({
    config: sidecar,
    audience: sidecar.audience ?? workload,
    inbound: tokens.inbound,
    // Without its gRPC identity (an SVID redacted or expired) every exchange fails closed: not ready either.
    ready: () => nats.isConnected() && grpcTls.identity.held(),
    // Its exchanger channel's SVID gone and its agent refusing the stream for good: only a restart helps.
    live: () => !grpcTls.lost(),
    exchange: new ExchangeCache({
      exchanger,
      authorization: basicAuthorization(workload, secret),
      // A revoked exchanged token (or one of a revoked subject) would otherwise be reused, and refused by the next hop, until it expires.
      revocations: tokens.inbound.revocations,
    }),
    logger,
    configPath: `sidecars.${workload}`,
    maxHeaderBytes: maxHeaderBytesFor(config.tokens.max_token_bytes),
    svidStreams,
  });
  logger.info({ workload, inbound: sidecarHandle.inboundPort, outbound: sidecarHandle.outboundPort, mtls: sidecar.tls !== undefined }, "sidecar listening");
  return {
    checks: sidecarHandle.checks,
    stop: async () => {
      await sidecarHandle.close();
      exchanger.close();
      grpcTls.close();
      tokens.stop();
      await nats.close();
    },
  };
}

async function main(): Promise<void> {
  const settings = readSettings();
  const { workload, sidecar } = settings;
  // Its health listener is its admin server: probes, and metrics, which are on when it has one.
  const { telemetry, logger } = startTelemetry(`sidecar-${workload.replace(/[^A-Za-z0-9_-]/g, "_")}`, settings.config, {
    admin: sidecar.health,
    adminField: `sidecars.${workload}.health`,
  });
  // Up before anything serve() waits for (NATS, the issuer's bucket, SVIDs), live and not ready until it has started: a
  // probe refused meanwhile reads as a dead process, and a liveness probe would restart one that is only waiting.
  await telemetry.startService(() => serve(settings, logger));
}

runMain(main);
