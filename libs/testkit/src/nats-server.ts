/**
 * A real nats-server with JetStream for tests: free port, fresh store dir,
 * restartable on the same port and store (to test recovery). Given users, TLS
 * or config files to include, it runs from a generated config file.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { natsServerConfig } from "./nats-config.js";
import type { NatsServerConfig } from "./nats-config.js";
import { freePort } from "./ports.js";
import { startProcess } from "./process.js";
import type { ProcessHandle } from "./process.js";

/** A running nats-server. */
export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>`, or `tls://` when the server requires TLS. */
  url: string;
  port: number;
  storeDir: string;
  readonly pid: number;
  /** What the server logged (permission violations, refused logins): the last part, across restarts. */
  output(): string;
  /** A position in the server's log, for outputSince. */
  mark(): number;
  /** What the server logged after `mark`; throws when part of it is no longer kept. */
  outputSince(mark: number): string;
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

/** Options of startNats. */
export interface NatsServerOptions extends NatsServerConfig {
  /** Store folder to reuse (default: a fresh one, removed at stop). */
  storeDir?: string;
  /** Port to listen on (default: a free one). */
  port?: number;
  /** Environment of the server, for the `$VAR` references of included files (a variable it cannot find stops it). */
  env?: Record<string, string>;
}

/** Starts nats-server -js on a free port with a fresh (or given) store. */
export async function startNats(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const bin = natsServerBinary();
  const port = options.port ?? (await freePort());
  const ownStore = !options.storeDir;
  const storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), "sts-nats-"));
  const configured = options.users !== undefined || options.token !== undefined || options.tls !== undefined || (options.include?.length ?? 0) > 0;
  const configDir = configured ? mkdtempSync(join(tmpdir(), "sts-nats-conf-")) : undefined;
  // Flags after -c override the file: the port and store stay the test's whatever an included file says.
  const args = [...(configDir ? ["-c", natsServerConfig(configDir, options)] : []), "-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", String(port)];
  const proc: ProcessHandle = await startProcess({
    name: "nats-server",
    command: bin,
    args,
    ...(options.env && { env: options.env }),
    ready: () => tcpOpen(port),
  });
  return {
    url: `${options.tls ? "tls" : "nats"}://127.0.0.1:${port}`,
    port,
    storeDir,
    get pid() {
      return proc.pid;
    },
    output: () => proc.output(),
    mark: () => proc.mark(),
    outputSince: (mark) => proc.outputSince(mark),
    async kill(signal = "SIGKILL") {
      await proc.kill(signal);
    },
    // The same handle started again (same port and store), so that marks taken before a restart still hold.
    restart: () => proc.restart(),
    async stop() {
      await proc.stop();
      if (ownStore) rmSync(storeDir, { recursive: true, force: true });
      if (configDir) rmSync(configDir, { recursive: true, force: true });
    },
  };
}
