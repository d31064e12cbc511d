/**
 * The operators' port of a process: the liveness and readiness probes and,
 * when metrics are on, Prometheus metrics, over plain HTTP on a port of its
 * own. The gRPC port may require mutual TLS, which Kubernetes' probes cannot
 * present; /metrics has no business on the public OAuth edge; and a sidecar's
 * inbound port must not shadow any path of its workload.
 *
 * It comes up before anything start-up waits for (NATS, buckets, an SVID), so
 * that probes tell a process still starting from a dead one: a refused
 * connection makes a liveness probe restart the pod, and the restarted one
 * would only wait again. Until the started process hands over its checks,
 * /healthz answers 200 and /readyz 503; past `startup_deadline` /healthz
 * fails too (see start-up.ts), since some waits have no end of their own.
 */
import { createServer } from "node:http";
import type { ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger, MetricsHandle } from "@sts/telemetry";

/** What a started process answers the probes with. */
export interface AdminChecks {
  /** Whether it can still recover on its own; /healthz fails when not, so that an orchestrator restarts it. */
  live(): boolean;
  /** Whether it can do its work now; /readyz fails when not (and whenever it is not live). */
  ready(): boolean;
}

/** Options of {@link startAdminServer}. */
export interface AdminServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Served at /metrics when set; /metrics is 404 without. */
  metrics?: MetricsHandle;
  logger?: Logger;
}

/** A running admin server. */
export interface AdminServer {
  /** The port it listens on. */
  readonly port: number;
  /** Switches the probes from "starting" to the started process's checks. */
  started(checks: AdminChecks): void;
  /** Stops listening, dropping open probe connections. */
  close(): Promise<void>;
}

/** Until the process has started: live, as it is working on it, and not ready, as it serves nothing yet. */
const STARTING: AdminChecks = { live: () => true, ready: () => false };

/** Answers with a short plain-text body; never cached, as a probe's answer holds for this moment only. */
function answer(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "text/plain", "cache-control": "no-store", ...headers }).end(body);
}

/**
 * Answers a liveness (/healthz) or readiness (/readyz) probe from `checks`, as every probe of this stack does (the admin
 * server's, and the gateway's public ones): a process that is not live is not ready either, as it will not recover to
 * serve.
 */
export function answerProbe(res: ServerResponse, path: "/healthz" | "/readyz", checks: AdminChecks): void {
  const live = checks.live();
  if (path === "/healthz") answer(res, live ? 200 : 503, live ? "ok" : "not live");
  else if (live && checks.ready()) answer(res, 200, "ok");
  else answer(res, 503, "not ready");
}

/** Starts the admin server in its "starting" state: GET /healthz, /readyz and /metrics; resolves once listening, rejects when it cannot listen. */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  let checks = STARTING;
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, (req, res) => {
    // Probes and scrapes only read: anything else is a client that has the wrong port.
    if (req.method !== "GET" && req.method !== "HEAD") {
      answer(res, 405, "method not allowed", { allow: "GET, HEAD" });
      return;
    }
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/metrics" && options.metrics) {
      options.metrics.scrape(req, res);
      return;
    }
    if (path !== "/healthz" && path !== "/readyz") {
      answer(res, 404, "not found");
      return;
    }
    answerProbe(res, path, checks);
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
  options.logger?.info({ port, metrics: options.metrics !== undefined }, "admin server listening (probes, metrics)");
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
