/**
 * What every service's main does before its own wiring: tracing and the
 * logger from the config file, the NATS connection with the events stream,
 * and one way to report a failed start.
 */
import type { StsConfig } from "@sts/config";
import { connectNats, ensureEventsStream } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { createLogger, initTelemetry } from "@sts/telemetry";
import type { Logger } from "@sts/telemetry";

/** Tracing and a logger for service `name` (e.g. "issuer"). */
export function startTelemetry(name: string, config: StsConfig): { telemetry: { shutdown(): Promise<void> }; logger: Logger } {
  const telemetry = initTelemetry({
    serviceName: `sts-${name}`,
    exporter: config.telemetry.exporter,
    ...(config.telemetry.otlp_endpoint && { otlpEndpoint: config.telemetry.otlp_endpoint }),
  });
  return { telemetry, logger: createLogger(name, { level: config.telemetry.log_level }) };
}

/** Connects to the stack's NATS (reconnecting forever) and makes sure the events stream exists. */
export async function connectStack(name: string, config: StsConfig, logger: Logger): Promise<NatsHandle> {
  const nats = await connectNats({ servers: config.nats.url ?? "nats://127.0.0.1:4222", name: `sts-${name}`, logger });
  await ensureEventsStream(nats, { replicas: config.nats.replicas });
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
