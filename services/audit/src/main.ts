/** Audit entry point: config → telemetry → SQLite projection → NATS consumer → gRPC → signals. */
import { startTelemetry, connectStack, runMain } from "@sts/runtime";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { grpcCredentials, logReloads, onShutdownSignal, startGrpcServer } from "@sts/grpc";
import { loadAuditProto, PROTO_FILES } from "@sts/proto";
import { AuditStore } from "./audit-store.js";
import { readSettings } from "./config.js";
import { Projector } from "./projector.js";
import { auditService } from "./service.js";

async function main(): Promise<void> {
  const { config, auditToken } = readSettings();
  const { telemetry, logger } = startTelemetry("audit", config);
  mkdirSync(dirname(config.audit.db_path), { recursive: true });
  const store = new AuditStore(config.audit.db_path);
  logger.info({ records: store.size, last_stream_sequence: store.lastStreamSequence }, "projection opened");

  const nats = await connectStack("audit", config, logger);
  const projector = new Projector(nats, store, config.audit.consumer, logger);

  const proto = loadAuditProto();
  const server = await startGrpcServer({
    host: config.services.audit.bind,
    port: config.services.audit.port,
    credentials: grpcCredentials(config.grpc_tls, logReloads(logger)).server,
    services: [{ definition: proto.sts.audit.v1.AuditService.service, implementation: auditService(store, logger, auditToken) }],
    reflection: { protoFiles: PROTO_FILES },
    logger,
  });
  server.setServing(nats.isConnected());
  nats.onStatusChange((connected) => server.setServing(connected));
  logger.info({ port: server.port }, "audit listening");
  await telemetry.serveAdmin(() => server.isServing());
  if (!auditToken) logger.warn("STS_AUDIT_TOKEN is not set: the audit API answers any caller that can reach it");

  onShutdownSignal(async () => {
    await server.shutdown(2_000);
    await projector.stop();
    await nats.close();
    store.close();
    await telemetry.shutdown();
  }, logger);
}

runMain(main);
