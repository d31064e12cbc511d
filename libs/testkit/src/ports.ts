/** Free loopback ports and readiness polling. */
import { readFileSync } from "node:fs";
import { connect, createServer } from "node:net";

/**
 * Test ports come from below the kernel's ephemeral range, so an outgoing
 * connection's local port or another process's bind(0) can never take a
 * port between the moment it is handed out and the moment a child binds it.
 * Each vitest worker draws from its own slice, and a port is handed out at
 * most once per process: parallel test files never race for the same port.
 */
const FLOOR = 10_000;
const SLICE = 1_000;

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

const slices = Math.floor((ephemeralLow() - FLOOR) / SLICE);
const worker = Number(process.env.VITEST_POOL_ID ?? process.pid);
const sliceStart = FLOOR + ((Number.isInteger(worker) ? worker : process.pid) % Math.max(slices, 1)) * SLICE;
// A random start keeps two concurrent runs (same pool ids) apart most of the time; the bind check does the rest.
let cursor = Math.floor(Math.random() * SLICE);
let handedOut = 0;

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

function osPickedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** A port free on 127.0.0.1 that this process has not handed out before. */
export async function freePort(): Promise<number> {
  if (slices < 1) return osPickedPort();
  while (handedOut < SLICE) {
    const port = sliceStart + (cursor++ % SLICE);
    handedOut++;
    if (await canBind(port)) return port;
  }
  return osPickedPort();
}

/** Polls fn until it returns a truthy value, or fails after timeoutMs. */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${options.message ?? "condition not met"} within ${options.timeoutMs ?? 10_000} ms${lastError instanceof Error ? `: ${lastError.message}` : ""}`,
      );
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}

/** True when an HTTP GET answers 2xx. */
export async function httpReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: "127.0.0.1" }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}
