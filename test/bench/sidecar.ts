/**
 * Sidecars: latency of a call from A to B through A's outbound sidecar and
 * B's inbound sidecar, against the same call made directly to B, with a warm
 * exchange cache (the same inbound token every call) and a cold one (a new
 * inbound token every call, so every call exchanges); and how many
 * exchanges 100 concurrent calls with one new token cause. B runs in its
 * own process (workload-b.ts), so "direct" crosses a process boundary too.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startProcess, tcpOpen } from "@sts/testkit";
import type { ProcessHandle } from "@sts/testkit";
import { basicAuth, postForm, startStack } from "../harness.js";
import { cpuTimeMs, peakRssMiB, percentile, printTable } from "./load.js";
import type { LoadResult } from "./load.js";

const SECRET = "bench-secret-000000000001";
/** Profiler flags for the sidecars and proxies too, as the harness passes them to the services. */
const nodeArgs = (process.env.STS_TEST_NODE_ARGS ?? "").split(" ").filter(Boolean);
const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";

function summary(label: string, lat: number[], elapsedMs: number): LoadResult {
  lat.sort((a, b) => a - b);
  return {
    label,
    concurrency: 1,
    requests: lat.length,
    errors: 0,
    rps: lat.length / (elapsedMs / 1000),
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    max: lat[lat.length - 1] ?? NaN,
  };
}

/**
 * One call at a time to each target in turn, n rounds, the order rotating
 * each round: every target sees the same machine at the same moments, so a
 * noisy neighbour or a CPU frequency change during the run moves all rows
 * alike instead of whichever block it fell on.
 */
async function interleaved(targets: ReadonlyArray<{ label: string; call: () => Promise<void> }>, n: number): Promise<LoadResult[]> {
  const lat = targets.map((): number[] => []);
  const busy = targets.map(() => 0);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < targets.length; j++) {
      const k = (i + j) % targets.length;
      const s = performance.now();
      await (targets[k] as { call: () => Promise<void> }).call();
      const d = performance.now() - s;
      (lat[k] as number[]).push(d);
      busy[k] = (busy[k] as number) + d;
    }
  }
  return targets.map((t, k) => summary(t.label, lat[k] as number[], busy[k] as number));
}

/** Unmeasured rounds before the warm rows (see {@link warmUp}). */
const WARM_UP_ROUNDS = 1000;

/**
 * Calls each target `rounds` times, unmeasured: "warm" means the steady state of a sidecar that has run a while, its
 * hot path compiled by V8's optimising tier. With a few dozen calls the proxies were still in the interpreter and the
 * baseline tier, and their CPU figures counted the optimising compiler's threads at work.
 */
async function warmUp(targets: ReadonlyArray<{ call: () => Promise<void> }>, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) for (const t of targets) await t.call();
}

/**
 * Sequential calls, each with its own argument (a new token per call): `warmups` calls with 0 … warmups-1 first,
 * then n measured with warmups … warmups+n-1, so that no measured call reuses what a warm-up call made.
 */
async function sequential(label: string, warmups: number, n: number, call: (i: number) => Promise<void>): Promise<LoadResult> {
  for (let i = 0; i < warmups; i++) await call(i);
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = warmups; i < warmups + n; i++) {
    const s = performance.now();
    await call(i);
    lat.push(performance.now() - s);
  }
  return summary(label, lat, performance.now() - t0);
}

/** Runs the sidecar benchmark and prints its figures. */
export async function benchSidecar(duration: number): Promise<void> {
  const bPort = await freePort();
  const p = { aIn: await freePort(), aOut: await freePort(), bIn: await freePort(), bOut: await freePort() };
  const stack = await startStack(
    {
      tokens: { access_token_ttl: "1h" },
      policy: { hops: [{ from: "svc-a", to: "svc-b", scopes: ["b"] }] },
      clients: [
        { client_id: "app", client_secret: SECRET, scope: ["a", "b"], audience: ["svc-a"] },
        { client_id: "svc-a", client_secret: SECRET, grant_types: ["client_credentials", EXCHANGE], audience: [] },
        { client_id: "svc-b", client_secret: SECRET, grant_types: ["client_credentials", EXCHANGE], audience: [] },
      ],
      sidecars: {
        "svc-a": {
          inbound: { port: p.aIn },
          outbound: { port: p.aOut },
          upstream: "http://127.0.0.1:9",
          routes: { "svc-b": { url: `http://127.0.0.1:${p.bIn}`, audience: "svc-b", scopes: ["b"] } },
        },
        "svc-b": { inbound: { port: p.bIn }, outbound: { port: p.bOut }, upstream: `http://127.0.0.1:${bPort}` },
      },
    },
    { services: ["issuer", "policy", "exchanger", "gateway"] },
  );
  const sidecars: ProcessHandle[] = [];
  const others: ProcessHandle[] = [];
  try {
    others.push(
      await startProcess({
        name: "workload B",
        command: process.execPath,
        args: [...nodeArgs, fileURLToPath(new URL("./workload-b.js", import.meta.url)), String(bPort)],
        ready: () => tcpOpen(bPort),
      }),
    );
    for (const [w, port] of [
      ["svc-a", p.aOut],
      ["svc-b", p.bIn],
    ] as const) {
      sidecars.push(
        await startProcess({
          name: w,
          command: process.execPath,
          args: [...nodeArgs, join(process.cwd(), "services/sidecar/dist/main.js")],
          env: { ...stack.env, STS_SIDECAR: w, STS_SIDECAR_CLIENT_SECRET: SECRET },
          ready: () => tcpOpen(port),
        }),
      );
    }
    const token = async (): Promise<string> =>
      (await postForm(`${stack.gatewayUrl}/oauth2/token`, { grant_type: "client_credentials", scope: "a b" }, { authorization: basicAuth("app", SECRET) })).body
        .access_token as string;
    const n = Math.max(200, duration * 200);
    const warmToken = await token();
    // One token per call of the cold row, its warm-up's included: each is exchanged once, by its own call.
    const coldWarmups = 50;
    const cold: string[] = [];
    for (let i = 0; i < Math.min(n, 400) + coldWarmups; i++) cold.push(await token());
    const get = async (url: string, t: string): Promise<void> => {
      const r = await fetch(url, { headers: { authorization: `Bearer ${t}` } });
      if (r.status !== 200) throw new Error(`${url}: ${r.status} ${await r.text()}`);
      await r.arrayBuffer();
    };
    // Two pass-through proxies with nothing in them, chained the same way: what any proxy hop costs here.
    const floorPorts = [await freePort(), await freePort()] as const;
    for (const [listen, target] of [
      [floorPorts[1], bPort],
      [floorPorts[0], floorPorts[1]],
    ] as const) {
      sidecars.push(
        await startProcess({
          name: `minimal proxy ${listen}`,
          command: process.execPath,
          args: [...nodeArgs, fileURLToPath(new URL("./minimal-proxy.js", import.meta.url)), String(listen), String(target)],
          ready: () => tcpOpen(listen),
        }),
      );
    }
    const rounds = 2 * n;
    const warmTargets = [
      { label: "direct A→B (no sidecar)", call: () => get(`http://127.0.0.1:${bPort}/work`, warmToken) },
      { label: "through 2 empty pass-through proxies (floor)", call: () => get(`http://127.0.0.1:${floorPorts[0]}/work`, warmToken) },
      { label: "through 2 sidecars, warm cache", call: () => get(`http://127.0.0.1:${p.aOut}/svc-b/work`, warmToken) },
    ];
    await warmUp(warmTargets, WARM_UP_ROUNDS);
    const cpuBefore = await Promise.all(sidecars.map((s) => cpuTimeMs(s.pid)));
    const warmRows = await interleaved(warmTargets, rounds);
    // Each proxy process saw one call per round.
    const cpuPerCall = (await Promise.all(sidecars.map((s) => cpuTimeMs(s.pid)))).map((t, i) => (t - (cpuBefore[i] as number)) / rounds);
    const rows = [
      ...warmRows,
      await sequential("through 2 sidecars, cold (exchange per call)", coldWarmups, cold.length - coldWarmups, (i) =>
        get(`http://127.0.0.1:${p.aOut}/svc-b/work`, cold[i] as string),
      ),
    ];
    printTable("sidecars: one call A→B at a time (the first three rows interleaved call by call)", rows);
    const [direct, floor, warm, coldRow] = rows as [LoadResult, LoadResult, LoadResult, LoadResult];
    console.log(
      // A hop A→B crosses two sidecars (A's outbound, B's inbound): both figures are printed, per hop and per sidecar.
      `  warm overhead, p50: ${(warm.p50 - direct.p50).toFixed(2)} ms per hop A→B (both sidecars), ${((warm.p50 - direct.p50) / 2).toFixed(2)} ms per sidecar; ` +
        `two empty proxies: ${(floor.p50 - direct.p50).toFixed(2)} ms per hop, ${((floor.p50 - direct.p50) / 2).toFixed(2)} per proxy; cold adds an exchange: p50 ${(coldRow.p50 - warm.p50).toFixed(2)} ms`,
    );
    console.log(
      `  CPU per warm call (ms): sidecar A ${cpuPerCall[0]?.toFixed(3)}, sidecar B ${cpuPerCall[1]?.toFixed(3)}; empty proxies ${cpuPerCall[2]?.toFixed(3)} and ${cpuPerCall[3]?.toFixed(3)}`,
    );
    const fresh = await token();
    await fetch(`http://127.0.0.1:${bPort}/__reset`, { method: "POST" });
    await Promise.all(Array.from({ length: 100 }, () => get(`http://127.0.0.1:${p.aOut}/svc-b/work`, fresh)));
    const { distinct } = (await (await fetch(`http://127.0.0.1:${bPort}/__seen`)).json()) as { distinct: number };
    console.log(`  100 concurrent calls with one new token reached B with ${distinct} distinct token(s): ${distinct} exchange(s)`);
    console.log(
      `  peak RSS: sidecar A ${(await peakRssMiB(sidecars[0]?.pid ?? 0)).toFixed(0)} MiB, sidecar B ${(await peakRssMiB(sidecars[1]?.pid ?? 0)).toFixed(0)} MiB`,
    );
  } finally {
    await Promise.all([...sidecars, ...others].map((s) => s.stop()));
    await stack.stop();
  }
}
