import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, createServer, request } from "node:http";
import type { Server, ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTestCa } from "@sts/testkit";
import { HttpDrain } from "./http-drain.js";

const dir = mkdtempSync(join(tmpdir(), "sts-drain-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Listens on a free loopback port; the drain follows every call, as the sidecar's listeners do. */
async function listening(server: Server, onCall: (res: ServerResponse) => void): Promise<{ drain: HttpDrain; port: number }> {
  const drain = new HttpDrain(server);
  server.on("request", (_req, res: ServerResponse) => {
    drain.track(res);
    onCall(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { drain, port: (server.address() as AddressInfo).port };
}

/** One GET on `agent`: its status and Connection header, or the error that ended it. */
const get = (port: number, agent: Agent, path: string): Promise<string> =>
  new Promise((resolve) => {
    request({ host: "127.0.0.1", port, path, agent }, (res) => res.resume().on("end", () => resolve(`${res.statusCode} ${res.headers.connection}`)))
      .on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
      .end();
  });

describe("HttpDrain", () => {
  it("answers the call under way at close `Connection: close` (RFC 9112 §9.6) and resolves once its connection is closed", async () => {
    const held: ServerResponse[] = [];
    const { drain, port } = await listening(createServer(), (res) => held.push(res));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const call = get(port, agent, "/under-way");
    await expect.poll(() => held.length).toBe(1);
    const closed = drain.close();
    held[0]?.writeHead(200).end("done");
    expect(await call).toBe("200 close");
    await closed;
    agent.destroy();
  });

  it("closes what is still open after graceMs: a call that never ends, and a TLS handshake never begun", async () => {
    const ca = makeTestCa(dir, "drain-ca");
    const server = ca.issue("drain-server");
    const https = createHttpsServer({ cert: readFileSync(server.cert_file), key: readFileSync(server.key_file) });
    const { drain, port } = await listening(https, () => undefined);
    // Connected, and silent: Node's HTTP server has no request, nor even a connection of its own, to close here.
    const silent = connect(port, "127.0.0.1");
    const gone = new Promise((resolve) => silent.once("close", resolve));
    silent.on("error", () => undefined);
    await new Promise((resolve) => silent.once("connect", resolve));
    // And a call whose answer never comes.
    let called = 0;
    const plain = await listening(createServer(), () => called++);
    const agent = new Agent({ keepAlive: true });
    const call = get(plain.port, agent, "/never-answered");
    await expect.poll(() => called).toBe(1);
    await Promise.all([drain.close(50), plain.drain.close(50)]);
    await gone;
    expect(await call).toBe("ECONNRESET");
    agent.destroy();
  });
});
