/**
 * A closed-loop load generator for unary calls: `concurrency` loops, each
 * sending its next request when the previous one answered, for a fixed time.
 * Latencies are kept whole (no sampling) to compute exact percentiles.
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";

/** Figures of one run. */
export interface LoadResult {
  label: string;
  concurrency: number;
  /** Calls that succeeded in the measured time: the only ones req/s counts. */
  requests: number;
  /** Calls that failed (error answers, socket errors, timeouts); not in req/s. */
  errors: number;
  /** The errors by kind, printed after the row when there were any. */
  errorDetail?: string;
  /** Successful calls per second. */
  rps: number;
  p50: number;
  p99: number;
  max: number;
}

/** Percentile of sorted latencies (ms). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Runs fn from `concurrency` loops for durationMs after a short warm-up. */
export async function runLoad(label: string, concurrency: number, durationMs: number, fn: () => Promise<unknown>, warmupMs = 1000): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: unknown;
  // Read from the clock on each call, not set by a timer: a call that never leaves the microtask queue (an
  // in-process ceiling) would hold a timer back until the run was over, and record nothing.
  const recordFrom = Date.now() + warmupMs;
  const stopAt = recordFrom + durationMs;
  async function loop(): Promise<void> {
    while (Date.now() < stopAt) {
      const t0 = process.hrtime.bigint();
      const recording = Date.now() >= recordFrom;
      try {
        await fn();
        if (recording) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } catch (err) {
        if (recording) errors++;
        firstError ??= err;
      }
    }
  }
  await new Promise((r) => setTimeout(r, 0));
  await Promise.all(Array.from({ length: concurrency }, loop));
  if (firstError && errors > 0)
    console.error(`  (${label}: ${errors} errors, first: ${firstError instanceof Error ? firstError.message : JSON.stringify(firstError)})`);
  latencies.sort((a, b) => a - b);
  return {
    label,
    concurrency,
    requests: latencies.length,
    errors,
    rps: latencies.length / (durationMs / 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1] ?? NaN,
  };
}

/** Prints results as an aligned table. */
export function printTable(title: string, rows: readonly LoadResult[]): void {
  console.log(`\n${title}`);
  console.log(`${"target".padEnd(44)} ${"conc".padStart(5)} ${"req/s".padStart(9)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"errors".padStart(7)}`);
  for (const r of rows) {
    const detail = r.errors > 0 && r.errorDetail ? `  (${r.errorDetail})` : "";
    console.log(
      `${r.label.padEnd(44)} ${String(r.concurrency).padStart(5)} ${r.rps.toFixed(0).padStart(9)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${String(r.errors).padStart(7)}${detail}`,
    );
  }
}

/** `a`'s req/s over `b`'s, or n/a (with both error counts) when either had errors: a rate that lost calls compares nothing. */
export function rpsRatio(a: LoadResult, b: LoadResult): string {
  if (a.errors > 0 || b.errors > 0) return `n/a (errors: ${a.errors} and ${b.errors})`;
  return `${(a.rps / b.rps).toFixed(2)}x`;
}

/** Peak resident set size of a process, in MiB (Linux VmHWM). */
export async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc, clock ticks of 10 ms). */
export async function cpuTimeMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Runs a command-line load tool and resolves with what it printed (stdout and stderr). */
export async function execTool(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}: ${out}`))));
  });
}
