import { connect } from "node:net";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createClient } from "@sts/grpc";
import { loadTokenProto } from "@sts/proto";
import { createLogger } from "@sts/telemetry";
import { freePort } from "@sts/testkit";
import { startGateway } from "./server.js";

/** Far above the timeouts the gateway is given here, far below the 30 s Node would otherwise wait between checks. */
const WAIT_MS = 10_000;

const started: Array<{ close(): Promise<void> }> = [];
const sockets: Socket[] = [];
afterEach(async () => {
  // A connection the gateway failed to give up would hold its close.
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(started.splice(0).map((g) => g.close()));
});

/** A gateway whose issuer client points at a port nothing listens on: these requests never reach it. */
async function gateway(options: { headersTimeoutMs: number; requestTimeoutMs: number }): Promise<number> {
  const token = createClient(loadTokenProto().sts.token.v1.TokenService, `127.0.0.1:${await freePort()}`);
  const g = await startGateway({
    host: "127.0.0.1",
    port: 0,
    issuer: "http://127.0.0.1",
    token,
    logger: createLogger("gateway", { level: "silent" }),
    ...options,
  });
  started.push({ close: async () => (await g.close(), token.close()) });
  return g.port;
}

/** Writes `text` on a new connection and collects what comes back until the gateway closes it. */
function rawConnection(port: number, text: string): { closed: Promise<string> } {
  const socket = connect(port, "127.0.0.1", () => socket.write(text));
  sockets.push(socket);
  let received = "";
  socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
  socket.on("error", () => undefined);
  return { closed: new Promise((resolve) => socket.on("close", () => resolve(received))) };
}

/** `p`, or a failure saying what did not happen within `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

describe("slow clients", () => {
  it("gives up a client that never finishes its headers (408), as headersTimeout says", async () => {
    const port = await gateway({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const { closed } = rawConnection(port, "POST /oauth2/token HTTP/1.1\r\nHost: sts\r\nContent-Type: application/x-www-form-urlencoded\r\n");
    expect(await within(closed, WAIT_MS, "the gateway gave the connection up")).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("gives up a request whose body is still coming after requestTimeout (408)", async () => {
    const port = await gateway({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const head = "POST /oauth2/token HTTP/1.1\r\nHost: sts\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n";
    const { closed } = rawConnection(port, `${head}grant_type=cl`);
    expect(await within(closed, WAIT_MS, "the gateway gave the request up")).toMatch(/^HTTP\/1\.1 408 /);
  });
});
