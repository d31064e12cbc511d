/** Sidecar entry point: config → telemetry → health listener → NATS revocations → JWKS → exchanger client → listeners → signals. */
import { createClient, onShutdownSignal, openGrpcCredentials } from "@sts/grpc";
import { ExchangeCache, openStackTokens } from "@sts/mesh";
import { loadExchangeProto } from "@sts/proto";
import { connectStack, runMain, startTelemetry } from "@sts/runtime";
import type { Logger } from "@sts/telemetry";
import { readSettings } from "./config.js";
import { startHealth } from "./health.js";
import type { HealthListener } from "./health.js";
import { startSidecar } from "./sidecar.js";

/** What {@link serve} starts from. */
interface ServeDeps {
  settings: ReturnType<typeof readSettings>;
  logger: Logger;
  health: HealthListener | undefined;
}

/** Waits for what the sidecar needs (NATS, the issuer's bucket, its identities), then serves; answers how to stop it. */
async function serve({ settings: { config, workload, sidecar, secret }, logger, health }: ServeDeps): Promise<() => Promise<void>> {
  const nats = await connectStack("sidecar", config, logger);
  // The issuer owns the bucket: a sidecar only reads it, waiting (unready) until it exists. Cut off from NATS, it stops
  // trusting its copy after a bounded time and refuses with 503.
  const tokens = await openStackTokens(nats, { issuer: config.issuer, audience: sidecar.audience ?? workload, tokens: config.tokens, logger });
  const grpcTls = await openGrpcCredentials(config.grpc_tls, logger);
  const exchanger = createClient(
    loadExchangeProto().sts.exchange.v1.ExchangeService,
    `${config.services.exchanger.host}:${config.services.exchanger.port}`,
    grpcTls.channelTo("exchanger"),
  );
  const formEncode = (s: string): string => encodeURIComponent(s).replace(/%20/g, "+");
  const sidecarHandle = await startSidecar({
    config: sidecar,
    audience: sidecar.audience ?? workload,
    inbound: tokens.inbound,
    revocations: tokens.inbound.revocations,
    // Without its gRPC identity (an SVID redacted or expired) every exchange fails closed: not ready either.
    ready: () => nats.isConnected() && grpcTls.identity.held(),
    // Its exchanger channel's SVID gone and its agent refusing the stream for good: only a restart helps.
    live: () => !grpcTls.lost(),
    health,
    exchange: new ExchangeCache({
      exchanger,
      authorization: `Basic ${Buffer.from(`${formEncode(workload)}:${formEncode(secret)}`).toString("base64")}`,
      // A revoked exchanged token (or one of a revoked subject) would otherwise be reused, and refused by the next hop, until it expires.
      revocations: tokens.inbound.revocations,
    }),
    logger,
    configPath: `sidecars.${workload}`,
  });
  logger.info({ workload, inbound: sidecarHandle.inboundPort, outbound: sidecarHandle.outboundPort, mtls: sidecar.tls !== undefined }, "sidecar listening");
  return async () => {
    await sidecarHandle.close();
    exchanger.close();
    grpcTls.close();
    tokens.stop();
    await nats.close();
  };
}

async function main(): Promise<void> {
  const settings = readSettings();
  const { workload, sidecar } = settings;
  // Metrics go out on the health listener, so they are on when the sidecar has one.
  const { telemetry, logger } = startTelemetry(`sidecar-${workload.replace(/[^A-Za-z0-9_-]/g, "_")}`, settings.config, {
    metrics: sidecar.health !== undefined,
  });
  // Up before anything serve() waits for (NATS, the issuer's bucket, SVIDs), live and not ready until it has started: a
  // probe refused meanwhile reads as a dead process, and a liveness probe would restart one that is only waiting.
  const health = sidecar.health && (await startHealth({ ...sidecar.health, metrics: telemetry.metrics, logger }));
  let stop: () => Promise<void>;
  try {
    stop = await serve({ settings, logger, health });
  } catch (err) {
    // Fail closed: a failed start ends the process (runMain), and its probes stop answering first.
    await health?.close();
    throw err;
  }
  onShutdownSignal(async () => {
    await Promise.all([stop(), health?.close()]);
    await telemetry.shutdown();
  }, logger);
}

runMain(main);
