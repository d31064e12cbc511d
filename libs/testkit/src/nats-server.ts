/**
 * A real nats-server with JetStream for tests: free port, fresh store dir,
 * restartable on the same port and store (to test recovery).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { startProcess } from "./process.js";
import type { ProcessHandle } from "./process.js";

/** A running nats-server. */
export interface NatsServerHandle {
  url: string;
  port: number;
  storeDir: string;
  readonly pid: number;
  kill(signal?: NodeJS.Signals): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Path of the nats-server binary, or an error saying how to install it. */
export function natsServerBinary(): string {
  for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/bin"]) {
    const candidate = join(dir, "nats-server");
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error("nats-server not found: install it with `apt-get update && apt-get install -y nats-server` (as root)");
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: "127.0.0.1" }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

/** Starts nats-server -js on a free port with a fresh (or given) store. */
export async function startNats(options: { storeDir?: string; port?: number } = {}): Promise<NatsServerHandle> {
  const bin = natsServerBinary();
  const port = options.port ?? (await freePort());
  const ownStore = !options.storeDir;
  const storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), "sts-nats-"));
  const args = ["-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", String(port)];
  let proc: ProcessHandle = await startProcess({ name: "nats-server", command: bin, args, ready: () => tcpOpen(port) });
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get pid() {
      return proc.pid;
    },
    async kill(signal = "SIGKILL") {
      await proc.kill(signal);
    },
    async restart() {
      await proc.stop();
      proc = await startProcess({ name: "nats-server", command: bin, args, ready: () => tcpOpen(port) });
    },
    async stop() {
      await proc.stop();
      if (ownStore) rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
