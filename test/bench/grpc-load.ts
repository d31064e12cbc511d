/**
 * Closed-loop gRPC load from h2load (nghttp2's HTTP/2 load generator, C,
 * from Debian's nghttp2-client package), when it is installed.
 *
 * Why not only grpc-js in the bench process: measured here, a grpc-js client
 * driving a do-nothing grpc-js server at 64 concurrent calls reaches about
 * 7,000 calls/s with a p99 over 30 ms, while h2load against the same server
 * reaches about 29,000/s with a p99 under 8 ms. The client was the
 * bottleneck and the source of most of the tail, so it hid the server's
 * figures. h2load sends one unary call (a length-prefixed protobuf body,
 * `content-type: application/grpc`) again and again on one HTTP/2
 * connection, up to `concurrency` streams at once, like one grpc-js channel.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execTool, percentile } from "./load.js";
import type { LoadResult } from "./load.js";

/** True when h2load can be run. */
export const h2loadAvailable = !spawnSync("h2load", ["--version"]).error;

/** One unary call repeated: the method's full path and its serialised request message. */
export interface GrpcLoad {
  label: string;
  /** host:port */
  address: string;
  /** e.g. /sts.exchange.v1.ExchangeService/Exchange */
  path: string;
  message: Buffer;
  concurrency: number;
  durationSec: number;
  /**
   * A count of calls that succeeded so far, read before and after the
   * measured run: h2load sees HTTP status 200 for every gRPC answer, errors
   * included (they are in trailers), so success is counted from what the
   * calls left behind (for an exchange, its durable event). Absent for a
   * call that leaves nothing behind (a health check): the caller then
   * checks one answer itself before the run.
   */
  succeededSoFar?: () => Promise<number>;
}

/** The gRPC wire framing of one uncompressed message. */
export function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** Runs h2load for durationSec after a warm-up of 1 s; latencies from its per-request log. */
export async function runGrpcH2Load(load: GrpcLoad): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), "bench-h2load-"));
  try {
    const body = join(dir, "request.bin");
    const log = join(dir, "requests.log");
    await writeFile(body, grpcFrame(load.message));
    const args = (seconds: number, logFile?: string) => [
      "-c1",
      `-m${load.concurrency}`,
      "-D",
      String(seconds),
      "-d",
      body,
      "-H",
      "content-type: application/grpc",
      "-H",
      "te: trailers",
      ...(logFile ? ["--log-file", logFile] : []),
      `http://${load.address}${load.path}`,
    ];
    // Warm-up as its own run, so no call of the measured run started cold.
    await execTool("h2load", args(1));
    const before = await load.succeededSoFar?.();
    const out = await execTool("h2load", args(load.durationSec, log));
    const after = await load.succeededSoFar?.();
    const rows = (await readFile(log, "utf8")).trim().split("\n");
    // Columns: start time (µs since the epoch), HTTP status, time to the end of the response (µs).
    const latencies = rows.map((r) => Number(r.split("\t")[2]) / 1000).sort((a, b) => a - b);
    const failed = Number(
      /(\d+) failed, (\d+) errored, (\d+) timeout/
        .exec(out)
        ?.slice(1)
        .reduce((s, n) => s + Number(n), 0) ?? 0,
    );
    // Every gRPC answer is HTTP 200, errors included (the status is in the trailers, which h2load does not read):
    // only what the calls left behind tells successes apart. Without that count, the row counts answers, and says so.
    const succeeded = before === undefined || after === undefined ? undefined : after - before;
    const answeredNotSucceeded = succeeded === undefined ? 0 : Math.max(0, latencies.length - succeeded);
    return {
      label: load.label,
      concurrency: load.concurrency,
      requests: succeeded ?? latencies.length,
      errors: failed + answeredNotSucceeded,
      errorDetail:
        succeeded === undefined
          ? `h2load failed ${failed}; gRPC status not read: req/s counts answers`
          : `answered with a gRPC error ${answeredNotSucceeded}, h2load failed ${failed}; latencies include them`,
      rps: (succeeded ?? latencies.length) / load.durationSec,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? NaN,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
