/**
 * What every service's main does around its own wiring: tracing and the
 * logger from the config file, the admin server its start-up runs under, the
 * NATS connection with the events stream, and one way to report a failed
 * start.
 */
import type { StsConfig } from "@sts/config";
import { EVENTS_STREAM, connectNats, ensureEventsStream, isPermissionViolation } from "@sts/nats";
import type { EventsStreamOptions, NatsHandle } from "@sts/nats";
import { createLogger, getMeter, initMetrics, initTelemetry, setRpcIncomingTrace } from "@sts/telemetry";
import type { Logger, MetricsHandle } from "@sts/telemetry";
import { startAdminServer } from "./admin.js";
import type { AdminServer } from "./admin.js";
import { natsOptionsOf } from "./nats-options.js";
import { onShutdownSignal } from "./signals.js";
import { DRAINING, startUnderProbes } from "./start-up.js";
import type { StartedService } from "./start-up.js";

/** A service's telemetry: tracing, and metrics with the admin server (probes) when it has one. */
export interface ServiceTelemetry {
  /** The metrics pipeline, when metrics are on. */
  metrics: MetricsHandle | undefined;
  /**
   * Runs the service's start-up with its admin server (GET /healthz, /readyz, /metrics), when it has one, already up:
   * /healthz 200 and /readyz 503 while `start` waits (for NATS, buckets, an SVID), the started service's checks after.
   * A failed start closes the admin server and rethrows; a port already taken fails the start. SIGTERM or SIGINT while
   * it starts ends the process at once (nothing serves yet to drain); after, they stop the service, then the admin
   * server, then flush tracing and metrics, and exit (`signals: false`, for tests, leaves the process's signals alone).
   * Answers that same stop.
   */
  startService(start: () => Promise<StartedService>, options?: { signals?: boolean }): Promise<() => Promise<void>>;
}

/** Options of {@link startTelemetry}. */
export interface TelemetryStartOptions {
  /** Where the admin server listens when the service's `services.<name>` has no admin_port: a sidecar's `health`. */
  admin?: { host: string; port: number };
  /** The config field `admin` comes from, to name in an error (`sidecars.<workload>.health`). */
  adminField?: string;
}

/**
 * Tracing and a logger for service `name` (e.g. "issuer"). When the service
 * has an admin server (`services.<name>.admin_port`, or `options.admin`),
 * metrics are set up here, before any component makes its instruments, and
 * served there.
 */
export function startTelemetry(name: string, config: StsConfig, options: TelemetryStartOptions = {}): { telemetry: ServiceTelemetry; logger: Logger } {
  const tracing = initTelemetry({
    serviceName: `sts-${name}`,
    exporter: config.telemetry.exporter,
    ...(config.telemetry.otlp_endpoint && { otlpEndpoint: config.telemetry.otlp_endpoint }),
  });
  setRpcIncomingTrace(config.telemetry.grpc_incoming_trace);
  const logger = createLogger(name, { level: config.telemetry.log_level });
  const listen = (config.services as Record<string, StsConfig["services"]["issuer"] | undefined>)[name];
  const adminAt = options.admin ?? (listen?.admin_port !== undefined ? { host: listen.bind, port: listen.admin_port } : undefined);
  const metrics = adminAt ? initMetrics(`sts-${name}`) : undefined;
  const telemetry: ServiceTelemetry = {
    metrics,
    async startService(start, { signals = true } = {}) {
      let admin: AdminServer | undefined;
      const flush = async (): Promise<void> => {
        await Promise.all([tracing.shutdown(), metrics?.shutdown()]);
      };
      // What a signal does now. While it starts (waiting for NATS, say) it ends the process at once: nothing serves yet.
      // Without a handler, node as a container's PID 1 would ignore SIGTERM, and the pod would wait out its grace period.
      let onSignal = async (): Promise<void> => {
        logger.info("stopped while starting");
        await admin?.close();
        await flush();
      };
      // One registration for the process's whole life, switched rather than replaced: a signal Node has taken in as
      // start-up ends would be dropped with a handler taken off.
      if (signals) onShutdownSignal(() => onSignal(), logger);
      if (adminAt) {
        const field = options.adminField ?? `services.${name}.admin_port`;
        admin = await startAdminServer({ ...adminAt, metrics, logger }).catch((err: unknown) => {
          throw new Error(`${field}: cannot listen on ${adminAt.host}:${adminAt.port}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        });
      }
      const service = await startUnderProbes(admin, start, { deadlineSeconds: config.startup_deadline, logger });
      const stop = async (): Promise<void> => {
        // The probes answer while the service drains, no longer ready: a load balancer other than Kubernetes' (which
        // drops a terminating pod anyway) sends nothing new meanwhile.
        admin?.started(DRAINING);
        try {
          await service.stop();
        } finally {
          await admin?.close();
          await flush();
        }
      };
      onSignal = stop;
      return stop;
    },
  };
  return { telemetry, logger };
}

/**
 * Services that neither publish nor consume events: they leave the events
 * stream alone (a sidecar runs in every workload's namespace, and its NATS
 * user may read the revocations and nothing else).
 */
const NO_EVENTS = new Set(["sidecar"]);

/** The one service that creates the events stream and keeps it at the configured settings. */
const EVENTS_OWNER = "issuer";

/**
 * For a service that publishes or consumes events without owning the stream:
 * creates it only while it is missing (services start in any order) and never
 * changes it, so that its NATS user needs no right to rewrite the audit
 * trail's retention. Without the right to create it, it starts anyway: its
 * publishes fail closed (the audit consumer retries) until the owner made it.
 */
async function useEventsStream(nats: NatsHandle, options: EventsStreamOptions, logger: Logger): Promise<void> {
  try {
    await nats.jsm.streams.info(EVENTS_STREAM.name);
    return;
  } catch (err) {
    if (!(err instanceof Error && /not found/i.test(err.message))) throw err;
  }
  try {
    await ensureEventsStream(nats, options);
  } catch (err) {
    if (!isPermissionViolation(err)) throw err;
    logger.warn({ stream: EVENTS_STREAM.name, owner: EVENTS_OWNER }, "events stream missing and this service may not create it: its owner will");
  }
}

/** The events stream as the config file says to keep it. */
export function eventsStreamOptions(config: StsConfig): EventsStreamOptions {
  const { stream_max_age: maxAge, stream_max_bytes: maxBytes } = config.audit;
  return { replicas: config.nats.replicas, maxAgeMs: maxAge === undefined ? undefined : maxAge * 1000, maxBytes };
}

/** Connects to the stack's NATS (reconnecting forever) and makes sure the events stream exists. */
export async function connectStack(name: string, config: StsConfig, logger: Logger): Promise<NatsHandle> {
  const held: { connection?: NatsHandle } = {};
  // Registered before the first connect, which may wait long: meanwhile /metrics says 0, not nothing.
  getMeter("@sts/nats")
    .createObservableGauge("sts.nats.connected", { description: "1 while the NATS connection is up, 0 while it connects or reconnects" })
    .addCallback((result) => result.observe(held.connection?.isConnected() ? 1 : 0));
  const nats = await connectNats({ ...natsOptionsOf(name, config.nats), logger });
  held.connection = nats;
  const stream = eventsStreamOptions(config);
  if (name === EVENTS_OWNER) await ensureEventsStream(nats, stream);
  else if (!NO_EVENTS.has(name)) await useEventsStream(nats, stream, logger);
  return nats;
}

/**
 * Runs a service's main. A failed start (bad config, no NATS) is printed
 * plainly and ends the process with status 1: the one place, with the
 * shutdown handler, where a process exits.
 */
export function runMain(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}

/**
 * The main of a stack service, through {@link runMain}: its settings read (a bad config file ends it), its telemetry
 * and admin server up, then `serve` started. The admin server answers from before `serve` waits for anything: a probe
 * refused while the service waits for NATS or its SVID would read as a dead process.
 */
export function runService<S extends { config: StsConfig }>(
  name: string,
  readSettings: () => S,
  serve: (settings: S, logger: Logger) => Promise<StartedService>,
): void {
  runMain(async () => {
    const settings = readSettings();
    const { telemetry, logger } = startTelemetry(name, settings.config);
    await telemetry.startService(() => serve(settings, logger));
  });
}
export { answerProbe, startAdminServer } from "./admin.js";
export { DRAIN_MS, HttpDrain } from "./http-drain.js";
export { answerClientErrors, refusalResponse } from "./client-errors.js";
export { natsOptionsOf } from "./nats-options.js";
export type { AdminChecks, AdminServer, AdminServerOptions } from "./admin.js";
export type { StartedService } from "./start-up.js";
