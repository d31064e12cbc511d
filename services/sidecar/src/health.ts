/**
 * The sidecar's health listener (`sidecar.health`): /healthz (liveness),
 * /readyz (readiness) and /metrics. It comes up before anything the sidecar
 * waits for at start-up (NATS, the issuer's revocations bucket, X.509-SVIDs),
 * so that probes tell a sidecar still starting (live, not ready) from a dead
 * process: a refused connection makes a liveness probe restart the pod, and
 * the restarted one would only wait again. Until the started sidecar hands
 * over its checks, /healthz answers 200 (each wait that can fail for good ends
 * the process itself) and /readyz 503.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger, MetricsHandle } from "@sts/telemetry";

/** What the started sidecar answers the probes with. */
export interface HealthChecks {
  /** Whether it can still recover on its own; /healthz fails when not, so that an orchestrator restarts it. */
  live(): boolean;
  /** Whether it can verify, exchange and forward now; /readyz fails when not (and whenever it is not live). */
  ready(): boolean;
}

/** Options of {@link startHealth}. */
export interface HealthOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Served at /metrics when set. */
  metrics?: MetricsHandle;
  logger?: Logger;
}

/** A running health listener. */
export interface HealthListener {
  /** The port it listens on. */
  readonly port: number;
  /** Switches the probes from "starting" to the started sidecar's checks. */
  started(checks: HealthChecks): void;
  /** Stops listening, dropping open probe connections. */
  close(): Promise<void>;
}

/** Until the sidecar has started: live, as it is working on it, and not ready, as it serves nothing yet. */
const STARTING: HealthChecks = { live: () => true, ready: () => false };

/** Starts the health listener in its "starting" state; resolves once listening, rejects when it cannot listen. */
export async function startHealth(options: HealthOptions): Promise<HealthListener> {
  let checks = STARTING;
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path === "/metrics" && options.metrics) {
      options.metrics.scrape(req, res);
      return;
    }
    const live = checks.live();
    const up = path === "/healthz" ? live : path === "/readyz" ? live && checks.ready() : undefined;
    const status = up === undefined ? 404 : up ? 200 : 503;
    const body = status === 200 ? "ok" : status === 404 ? "not found" : path === "/healthz" ? "not live" : "not ready";
    res.writeHead(status, { "content-type": "text/plain", "cache-control": "no-store" }).end(body);
  });
  // A port already taken must fail the start, not crash the process later with an unhandled 'error' event.
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  options.logger?.info({ port }, "health listener up (/healthz, /readyz, /metrics)");
  return {
    port,
    started: (next) => {
      checks = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Probes keep their connections alive; close() alone would wait for them.
        server.closeAllConnections();
      }),
  };
}
