/**
 * A client's key server for tests (left out of the build): HTTPS on 127.0.0.1, with a certificate for 127.0.0.1 and
 * localhost from a throwaway CA, counting the connections it is opened and the requests each path gets.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestCa } from "@sts/testkit";
import { MAX_JWKS_BYTES } from "./jwks-fetch.js";

/** A running key server. */
export interface KeyServer {
  port: number;
  /** PEM of the CA its certificate chains to. */
  ca: string;
  /** The key set /jwks serves. */
  jwks: { keys: Array<Record<string, unknown>> };
  /** TCP connections opened to it so far. */
  connections: number;
  /** Requests per path so far. */
  hits: Map<string, number>;
  /** Called when /hang is asked for (which never answers). */
  onHang: (() => void) | undefined;
  close(): Promise<void>;
}

/**
 * Starts one: /jwks answers the key set; /redirect sends to /jwks (302); /large and /chunked answer more than
 * MAX_JWKS_BYTES, announced and not; /hang never answers; anything else is 404.
 */
export async function startKeyServer(): Promise<KeyServer> {
  const dir = mkdtempSync(join(tmpdir(), "sts-key-server-"));
  const testCa = makeTestCa(dir, "key-server-ca");
  const tls = testCa.issue("key-server");
  const large = JSON.stringify({ keys: [], padding: "x".repeat(MAX_JWKS_BYTES) });
  const server = createServer({ cert: readFileSync(tls.cert_file), key: readFileSync(tls.key_file) }, (req, res) => {
    const path = req.url ?? "";
    keyServer.hits.set(path, (keyServer.hits.get(path) ?? 0) + 1);
    if (path === "/jwks") return void res.writeHead(200, { "content-type": "application/jwk-set+json" }).end(JSON.stringify(keyServer.jwks));
    if (path === "/redirect") return void res.writeHead(302, { location: `https://localhost:${keyServer.port}/jwks` }).end();
    if (path === "/large") return void res.writeHead(200, { "content-type": "application/json" }).end(large);
    if (path === "/chunked") {
      res.writeHead(200, { "content-type": "application/json" });
      for (let at = 0; at < large.length; at += 4096) res.write(large.slice(at, at + 4096));
      return void res.end();
    }
    if (path === "/hang") return void keyServer.onHang?.();
    res.writeHead(404).end();
  });
  server.on("connection", () => void (keyServer.connections += 1));
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
  const keyServer: KeyServer = {
    port,
    ca: readFileSync(testCa.ca_file, "utf8"),
    jwks: { keys: [] },
    connections: 0,
    hits: new Map(),
    onHang: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).finally(() => rmSync(dir, { recursive: true, force: true })),
  };
  return keyServer;
}
