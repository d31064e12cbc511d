/**
 * What a connection can hold of a gateway that stops (SIGTERM): a kept-alive one whose request is under way, one whose
 * body never ends, one that never spoke. Through a real gateway and a real gRPC stand-in for the issuer's TokenBatch,
 * which holds every batch until the test lets it go.
 */
import { Agent, request } from "node:http";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@sts/testkit";
import { standInIssuer, testGateway } from "./gateway.fixture.js";
import type { StandIn } from "./gateway.fixture.js";

/** Far above the timeouts the gateway is given here: only a gateway that never gives the connection up waits it out. */
const WAIT_MS = 10_000;

/** Held batches, each released by its function. */
const held: Array<() => void> = [];
let issuer: StandIn;
const sockets: Socket[] = [];
const gateways: Array<Awaited<ReturnType<typeof testGateway>>> = [];

beforeAll(async () => {
  issuer = await standInIssuer(async (req) => {
    await new Promise<void>((release) => held.push(release));
    return { results: req.items.map(() => ({ response: { access_token: "at", token_type: "Bearer", expires_in: "300" } })) };
  });
});

afterEach(async () => {
  held.splice(0).forEach((release) => release());
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

afterAll(async () => {
  await issuer.close();
});

async function gateway(options: Parameters<typeof testGateway>[0] = {}): Promise<Awaited<ReturnType<typeof testGateway>>> {
  const g = await testGateway({ token: issuer.client, ...options });
  gateways.push(g);
  return g;
}

/** Opens a connection, writes `text` (nothing when empty); `closed` resolves with what came back once the gateway closes it. */
function rawConnection(port: number, text: string): { closed: Promise<string> } {
  const socket = connect(port, "127.0.0.1", () => text && socket.write(text));
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

/** A token request on `agent`: its status and Connection header once answered, or the error that ended it. */
const tokenRequest = (port: number, agent: Agent): Promise<string> =>
  new Promise((resolve) => {
    const body = "grant_type=client_credentials";
    request(
      {
        host: "127.0.0.1",
        port,
        path: "/oauth2/token",
        method: "POST",
        agent,
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${btoa("svc-a:s")}`, "content-length": body.length },
      },
      (res) => res.resume().on("end", () => resolve(`${res.statusCode} ${res.headers.connection}`)),
    )
      .on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
      .end(body);
  });

describe("stopping the gateway (SIGTERM)", () => {
  it("answers a request under way with Connection: close (RFC 9112 §9.6) and resolves once its connection is closed", async () => {
    const g = await gateway();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const answer = tokenRequest(g.port, agent);
    await waitFor(() => held.length === 1, { timeoutMs: WAIT_MS, message: "the token request never reached the issuer" });
    const closed = g.close();
    held.splice(0).forEach((release) => release());
    // Before: `keep-alive`, and close() waited on the client for as long as it kept the connection (65 s idle), past
    // the process's 12 s shutdown deadline, meanwhile serving whatever it sent on it.
    expect(await answer).toBe("200 close");
    await within(closed, WAIT_MS, "close() resolved");
    agent.destroy();
  });

  it("closes what is still open once drainMs has passed: a body that never ends, a connection that never spoke", async () => {
    const g = await gateway({ drainMs: 100 });
    const head = "POST /oauth2/token HTTP/1.1\r\nHost: sts\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n";
    const slowBody = rawConnection(g.port, `${head}grant_type=cl`);
    const silent = rawConnection(g.port, "");
    // Both connections are the gateway's before it stops (the body is being read: its request is under way).
    await waitFor(async () => (await fetch(`${g.url}/healthz`, { headers: { connection: "close" } })).ok, { timeoutMs: WAIT_MS });
    // Node stops checking its request timeouts once the server closes: before, close() never resolved.
    await within(g.close(), WAIT_MS, "close() resolved");
    await within(Promise.all([slowBody.closed, silent.closed]), WAIT_MS, "both connections closed");
  });
});
