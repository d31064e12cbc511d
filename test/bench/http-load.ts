/**
 * HTTP load for the side-by-side comparisons, reported in the same shape as
 * the gRPC load. wrk (C, from Debian's package) is used when it is installed:
 * it costs the server processes far less CPU than a Node load generator in
 * the bench process would, which matters on a 2-core machine where the load
 * generator shares the cores with what it measures. Otherwise autocannon.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { execTool } from "./load.js";
import type { LoadResult } from "./load.js";

/** The HTTP load tool this run uses, for the report's heading. */
export const httpLoadTool: "wrk" | "autocannon" = process.env.BENCH_HTTP_LOAD === "autocannon" || spawnSync("wrk", ["--version"]).error ? "autocannon" : "wrk";

/** One closed-loop HTTP load: a POST repeated on `connections` connections for `durationSec`. */
export interface HttpLoad {
  label: string;
  url: string;
  connections: number;
  durationSec: number;
  headers: Record<string, string>;
  body: string;
}

/** Runs closed-loop load against one POST endpoint, with the same settings for every target. */
export async function runHttpLoad(load: HttpLoad): Promise<LoadResult> {
  const { label, url, headers, body } = load;
  // A target that answers errors would measure nothing: check one request first.
  const probe = await fetch(url, { method: "POST", headers, body });
  if (probe.status !== 200) throw new Error(`${label}: ${probe.status} ${await probe.text()}`);
  await probe.arrayBuffer().catch(() => undefined);
  return httpLoadTool === "wrk" ? runWrk(load) : runAutocannon(load);
}

async function runAutocannon({ label, url, connections, durationSec, headers, body }: HttpLoad): Promise<LoadResult> {
  await autocannon({ url, method: "POST", headers, body, connections, duration: 1 });
  const result = await autocannon({ url, method: "POST", headers, body, connections, duration: durationSec });
  // requests.total counts every answer, error statuses included: only the 2xx ones are throughput.
  const ok = result["2xx"];
  return {
    label,
    concurrency: connections,
    requests: ok,
    errors: result.errors + result.timeouts + result.non2xx,
    errorDetail: `non-2xx ${result.non2xx}, socket errors ${result.errors}, timeouts ${result.timeouts}; latencies include them`,
    rps: ok / durationSec,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
  };
}

async function runWrk({ label, url, connections, durationSec, headers, body }: HttpLoad): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), "bench-wrk-"));
  try {
    const script = join(dir, "post.lua");
    const lines = [`wrk.method = "POST"`, `wrk.body = ${JSON.stringify(body)}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`);
    await writeFile(script, lines.join("\n") + "\n");
    // One thread per connection up to two: the machine has two cores.
    const args = (d: number) => ["-t", String(Math.min(2, connections)), "-c", String(connections), "-d", `${d}s`, "--latency", "-s", script, url];
    await execTool("wrk", args(1));
    const out = await execTool("wrk", args(durationSec));
    return { label, concurrency: connections, ...parseWrk(out) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function toMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(value);
  if (!m) throw new Error(`wrk: unreadable latency ${value}`);
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

/** Reads the figures wrk prints with --latency. */
export function parseWrk(out: string): Omit<LoadResult, "label" | "concurrency"> {
  const field = (re: RegExp): string => {
    const m = re.exec(out);
    if (!m) throw new Error(`wrk: output lacks ${re}:\n${out}`);
    return m[1] as string;
  };
  const requests = Number(field(/(\d+) requests in/));
  const seconds = toMs(field(/requests in ([\d.]+(?:us|ms|s|m)),/)) / 1000;
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  // wrk's request count holds every answer, error statuses included: only the others are throughput.
  const ok = requests - non2xx;
  return {
    requests: ok,
    errors: socketErrors + non2xx,
    errorDetail: `non-2xx/3xx ${non2xx}, socket errors ${socketErrors}; latencies include them`,
    rps: ok / seconds,
    p50: toMs(field(/\n\s+50%\s+(\S+)/)),
    p99: toMs(field(/\n\s+99%\s+(\S+)/)),
    max: toMs(field(/Latency\s+\S+\s+\S+\s+(\S+)/)),
  };
}
