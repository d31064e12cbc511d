/**
 * The operators' port of a service: Prometheus metrics and the liveness and
 * readiness probes, over plain HTTP on a port of its own. The gRPC port may
 * require mutual TLS, which Kubernetes' probes cannot present, and /metrics
 * has no business on the public OAuth edge.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger, MetricsHandle } from "@sts/telemetry";

/** Options of startAdminServer. */
export interface AdminServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  metrics: MetricsHandle;
  /** Whether the service can do its work now; /readyz answers 503 when not. */
  ready: () => boolean;
  /** Whether the process can still recover on its own; /healthz answers 503 when not, so an orchestrator restarts it. */
  live?: () => boolean;
  logger: Logger;
}

/** A running admin server. */
export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

/** Serves GET /metrics, /healthz and /readyz; resolves once listening. */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    switch ((req.url ?? "/").split("?")[0]) {
      case "/metrics":
        options.metrics.scrape(req, res);
        return;
      case "/healthz": {
        const live = options.live?.() ?? true;
        res.writeHead(live ? 200 : 503, { "content-type": "text/plain" }).end(live ? "ok\n" : "not live\n");
        return;
      }
      case "/readyz": {
        const ready = options.ready();
        res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ready\n" : "not ready\n");
        return;
      }
      default:
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  options.logger.info({ port }, "admin server listening (metrics, probes)");
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
