/**
 * `npm run bench`: prints throughput and latency figures; never asserts a
 * time. Every comparison is made side by side in the same run, with the same
 * load tool and settings, because the machine is shared and noisy.
 *
 *   BENCH_DURATION=5 (seconds per point)  BENCH_ONLY=client-credentials,exchange,audit,sidecar
 */
import { benchClientCredentials } from "./client-credentials.js";
import { benchExchange } from "./exchange.js";
import { benchAudit } from "./audit.js";
import { benchSidecar } from "./sidecar.js";
import { httpLoadTool } from "./http-load.js";
import { h2loadAvailable } from "./grpc-load.js";

const duration = Number(process.env.BENCH_DURATION ?? 5);
const only = new Set((process.env.BENCH_ONLY ?? "client-credentials,exchange,audit,sidecar").split(","));

console.log(
  `mesh-sts benchmarks: ${duration}s per point; HTTP load from ${httpLoadTool}, gRPC load from grpc-js in this process${h2loadAvailable ? " and from h2load" : " (h2load not installed)"} (node ${process.version}, ${(await import("node:os")).cpus().length} cpus)`,
);
if (only.has("client-credentials")) await benchClientCredentials(duration);
if (only.has("exchange")) await benchExchange(duration);
if (only.has("audit")) await benchAudit(duration);
if (only.has("sidecar")) await benchSidecar(duration);
process.exit(0);
