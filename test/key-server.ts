/**
 * An HTTPS server on loopback standing in for a client's key server (its jwks_uri), with a test CA of its own that
 * the issuer is told to trust (NODE_EXTRA_CA_CERTS), as a deployment adds a private CA.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestCa } from "@sts/testkit";

/** A running key server. */
export interface KeyServer {
  port: number;
  /** The CA file its certificate chains to: give it to the issuer as NODE_EXTRA_CA_CERTS. */
  caFile: string;
  /** Counts the TCP connections it accepted. */
  connections(): number;
  /** Closes it, its open connections too, and removes its files. */
  close(): Promise<void>;
}

/** Starts a key server answering every request with `answer`, its certificate issued for `localhost`. */
export async function startKeyServer(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<KeyServer> {
  const dir = mkdtempSync(join(tmpdir(), "sts-key-server-"));
  const ca = makeTestCa(dir, "keys-ca");
  const tls = ca.issue("keys");
  const server = createServer({ cert: readFileSync(tls.cert_file), key: readFileSync(tls.key_file) }, answer);
  let connections = 0;
  server.on("connection", () => void (connections += 1));
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
  return {
    port,
    caFile: ca.ca_file,
    connections: () => connections,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
