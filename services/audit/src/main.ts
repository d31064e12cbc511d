/** Audit entry point: config → telemetry → SQLite projection → NATS consumer → gRPC → signals. */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { connectNats, ensureEventsStream } from "@sts/nats";
import { onShutdownSignal, startGrpcServer } from "@sts/grpc";
import { loadAuditProto, PROTO_FILES } from "@sts/proto";
import { createLogger, initTelemetry } from "@sts/telemetry";
import { AuditStore } from "./audit-store.js";
import { readSettings } from "./config.js";
import { Projector } from "./projector.js";
import { auditService } from "./service.js";

async function main(): Promise<void> {
  const { config } = readSettings();
  const telemetry = initTelemetry({
    serviceName: "sts-audit",
    exporter: config.telemetry.exporter,
    ...(config.telemetry.otlp_endpoint && { otlpEndpoint: config.telemetry.otlp_endpoint }),
  });
  const logger = createLogger("audit", { level: config.telemetry.log_level });
  mkdirSync(dirname(config.audit.db_path), { recursive: true });
  const store = new AuditStore(config.audit.db_path);
  logger.info({ records: store.size, last_stream_sequence: store.lastStreamSequence }, "projection opened");

  const nats = await connectNats({ servers: config.nats.url ?? "nats://127.0.0.1:4222", name: "sts-audit", logger });
  await ensureEventsStream(nats, { replicas: config.nats.replicas });
  const projector = new Projector(nats, store, config.audit.consumer, logger);

  const proto = loadAuditProto();
  const server = await startGrpcServer({
    host: config.services.audit.host,
    port: config.services.audit.port,
    services: [{ definition: proto.sts.audit.v1.AuditService.service, implementation: auditService(store, logger) }],
    reflection: { protoFiles: PROTO_FILES },
    logger,
  });
  server.setServing(nats.isConnected());
  nats.onStatusChange((connected) => server.setServing(connected));
  logger.info({ port: server.port }, "audit listening");

  onShutdownSignal(async () => {
    await server.shutdown(2_000);
    await projector.stop();
    await nats.close();
    store.close();
    await telemetry.shutdown();
  }, logger);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
