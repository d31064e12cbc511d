/** Audit entry point: config → telemetry, signals and admin server → SQLite projection → NATS consumer → revocations, JWKS → gRPC. */
import { connectStack, runService } from "@sts/runtime";
import type { StartedService } from "@sts/runtime";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { openGrpcCredentials, startGrpcServer } from "@sts/grpc";
import { EventPublisher } from "@sts/nats";
import { loadAuditProto, PROTO_FILES } from "@sts/proto";
import { openStackTokens } from "@sts/mesh";
import { accessRecorder } from "./access-record.js";
import { AuditStore } from "./audit-store.js";
import { auditorAuthenticator } from "./authenticate-auditor.js";
import type { Logger } from "@sts/telemetry";
import { readSettings } from "./config.js";
import type { AuditSettings } from "./config.js";
import { Projector } from "./projector.js";
import { auditService } from "./service.js";

/** Opens the projection, waits for what the audit API needs (NATS, the issuer's revocations, its gRPC identity), then serves. */
async function serve({ config, breakGlassToken, now }: AuditSettings, logger: Logger): Promise<StartedService> {
  mkdirSync(dirname(config.audit.db_path), { recursive: true });
  const store = new AuditStore(config.audit.db_path);
  logger.info({ records: store.size, last_stream_sequence: store.lastStreamSequence }, "projection opened");

  const nats = await connectStack("audit", config, logger);
  // A stalled projection would answer from an old trail without saying so: the service is unready while it lasts.
  let updateServing = (): void => undefined;
  const projector = new Projector(nats, store, config.audit.consumer, logger, {
    maxLagMs: config.audit.max_projection_lag * 1000,
    onStalledChange: () => updateServing(),
  });
  // Auditors' tokens are checked against the issuer's revocations: the projection runs meanwhile, the API waits (unready).
  const tokens = await openStackTokens(nats, { issuer: config.issuer, audience: config.audit.api_audience, tokens: config.tokens, now, logger });
  const authenticate = auditorAuthenticator({
    breakGlassToken,
    allowAnonymous: config.audit.allow_anonymous,
    scope: config.audit.api_scope,
    tokens: tokens.inbound,
  });
  const record = accessRecorder(new EventPublisher(nats, { source: "sts/audit", logger }));

  const proto = loadAuditProto();
  // Ends open Tails (UNAVAILABLE: open again) as the stop begins, rather than holding the drain and being cut.
  const stopping = new AbortController();
  const tls = await openGrpcCredentials(config.grpc_tls, logger);
  const server = await startGrpcServer({
    host: config.services.audit.bind,
    port: config.services.audit.port,
    credentials: tls.server,
    services: [
      {
        definition: proto.sts.audit.v1.AuditService.service,
        implementation: auditService(store, logger, { authenticate, record }, { stopping: stopping.signal }),
      },
    ],
    reflection: { protoFiles: PROTO_FILES },
    logger,
  });
  updateServing = () => server.setServing(nats.isConnected() && !projector.stalled);
  updateServing();
  nats.onStatusChange(() => updateServing());
  logger.info({ port: server.port, audience: config.audit.api_audience, scope: config.audit.api_scope }, "audit listening");
  if (!breakGlassToken && config.audit.allow_anonymous) {
    logger.warn(
      "audit.allow_anonymous is on and STS_AUDIT_TOKEN is not set: the audit API answers callers without a credential (each read recorded as anonymous)",
    );
  }
  return {
    // Its gRPC identity lost for good (its agent refusing the stream): only a restart helps.
    checks: { live: () => !tls.lost(), ready: () => server.isServing() },
    stop: async () => {
      stopping.abort();
      await server.shutdown(2_000);
      tls.close();
      await projector.stop();
      tokens.stop();
      await nats.close();
      store.close();
    },
  };
}

runService("audit", readSettings, serve);
