/** HTTP load through autocannon, reported in the same shape as the gRPC load. */
import autocannon from "autocannon";
import type { LoadResult } from "./load.js";

/** Runs autocannon against one POST endpoint. */
export async function runHttpLoad(
  label: string,
  url: string,
  connections: number,
  durationSec: number,
  headers: Record<string, string>,
  body: string,
): Promise<LoadResult> {
  // A target that answers errors would measure nothing: check one request first.
  const probe = await fetch(url, { method: "POST", headers, body });
  if (probe.status !== 200) throw new Error(`${label}: ${probe.status} ${await probe.text()}`);
  await probe.arrayBuffer().catch(() => undefined);
  // Warm-up, then the measured run, same settings for every target.
  await autocannon({ url, method: "POST", headers, body, connections, duration: 1 });
  const result = await autocannon({ url, method: "POST", headers, body, connections, duration: durationSec });
  const errors = result.errors + result.timeouts + result.non2xx;
  return {
    label,
    concurrency: connections,
    requests: result.requests.total,
    errors,
    rps: result.requests.total / durationSec,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
  };
}
