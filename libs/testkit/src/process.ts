/** Child processes for tests: output captured, readiness polled, killed with the test run. */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { liveChildren } from "./live-children.js";

const live = liveChildren();

/** Options of startProcess. */
export interface ProcessOptions {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
  /** Abandons the start: the child is killed and startProcess rejects (its owner stopped while it was starting). */
  signal?: AbortSignal;
}

/** A running child. */
export interface ProcessHandle {
  readonly pid: number;
  /** The last MAX_OUTPUT characters it printed (stdout and stderr, across restarts). */
  output(): string;
  /** A position in its output, for outputSince: the count of characters printed so far. */
  mark(): number;
  /** What it printed after `mark`; throws when part of that is no longer kept, so a check never passes on output it cannot see. */
  outputSince(mark: number): string;
  /** Sends a signal and waits for the exit (code or signal name). */
  kill(signal?: NodeJS.Signals): Promise<number | string | null>;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(graceMs?: number): Promise<void>;
  /** Starts the same command again and waits until ready. */
  restart(): Promise<void>;
  readonly exited: Promise<number | string | null>;
}

const MAX_OUTPUT = 64 * 1024;

/**
 * A directory that receives each child's whole output (`<name>-<pid>.out`: a replica or a restart is a file of its
 * own), for what only the child prints and the kept tail would cut: `--trace-gc-nvp` given through
 * STS_TEST_NODE_ARGS, for one.
 */
const OUTPUT_DIR = process.env.STS_TEST_OUTPUT_DIR;
if (OUTPUT_DIR) mkdirSync(OUTPUT_DIR, { recursive: true });

/** Starts a process and waits until ready() is true. */
export async function startProcess(options: ProcessOptions): Promise<ProcessHandle> {
  let child!: ChildProcess;
  let out = "";
  /** Characters captured since the start, kept or not: `out` holds the last ones. */
  let written = 0;
  let exited!: Promise<number | string | null>;
  let exitedValue: number | string | null | undefined;

  async function launch(): Promise<void> {
    exitedValue = undefined;
    child = spawn(options.command, options.args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
    live.add(child);
    const file = OUTPUT_DIR && join(OUTPUT_DIR, `${options.name}-${child.pid ?? "unknown"}.out`);
    const append = (chunk: Buffer): void => {
      const text = chunk.toString();
      written += text.length;
      out = (out + text).slice(-MAX_OUTPUT);
      if (file) appendFileSync(file, chunk);
    };
    child.stdout?.on("data", append);
    child.stderr?.on("data", append);
    const current = child;
    exited = new Promise((resolve) => {
      current.once("exit", (code, signal) => {
        live.delete(current);
        exitedValue = code ?? signal;
        resolve(exitedValue);
      });
    });
    const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
    for (;;) {
      if (exitedValue !== undefined) throw new Error(`${options.name} exited (${String(exitedValue)}) before ready:\n${out}`);
      if (options.signal?.aborted) {
        current.kill("SIGKILL");
        await exited;
        throw new Error(`${options.name}: start abandoned before ready`, { cause: options.signal.reason });
      }
      if (await options.ready()) return;
      if (Date.now() > deadline) {
        current.kill("SIGKILL");
        throw new Error(`${options.name} not ready in time:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  await launch();
  const handle: ProcessHandle = {
    get pid() {
      return child.pid ?? -1;
    },
    output: () => out,
    mark: () => written,
    outputSince(mark) {
      const dropped = written - out.length;
      if (mark < dropped) throw new Error(`${options.name}: output since ${mark} no longer kept (only the last ${MAX_OUTPUT} characters are)`);
      return out.slice(mark - dropped);
    },
    async kill(signal = "SIGKILL") {
      if (exitedValue !== undefined) return exitedValue;
      child.kill(signal);
      return exited;
    },
    async stop(graceMs = 5000) {
      if (exitedValue !== undefined) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async restart() {
      await handle.stop();
      await launch();
    },
    get exited() {
      return exited;
    },
  };
  return handle;
}

/** True while `pid` runs (Linux /proc): a zombie, dead but not yet reaped by whoever adopted it, does not run. */
export function isProcessRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
