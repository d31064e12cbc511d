/**
 * The TLS listener of a gRPC server whose material rotates bounds how long a connection may take to complete its
 * handshake. Real TLS, a real PKI made with openssl.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestCa } from "@sts/testkit";
import { MaterialProvider } from "./tls.js";
import { TlsListener } from "./tls-listener.js";

let dir: string;
let provider: MaterialProvider;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-grpc-tls-listener-"));
  const ca = makeTestCa(dir, "ca");
  const server = ca.issue("server");
  provider = new MaterialProvider({ cert: readFileSync(server.cert_file), key: readFileSync(server.key_file), ca: readFileSync(ca.ca_file) });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("TlsListener", () => {
  it("closes a connection that never completes its TLS handshake once the handshake timeout passes (Node only reports the timeout)", async () => {
    const accepted: unknown[] = [];
    const listener = await TlsListener.listen({
      material: provider,
      requireClientCert: true,
      host: "127.0.0.1",
      port: 0,
      handshakeTimeoutMs: 200,
      accept: (socket) => accepted.push(socket),
    });
    try {
      const socket = connect(listener.port, "127.0.0.1");
      socket.on("error", () => undefined);
      // Far above the 200 ms asked for, and far below Node's 120 s default: without the bound, or with the timeout only
      // reported, the connection would stay open.
      const closedBy = await new Promise<string>((resolve) => {
        const giveUp = setTimeout(() => {
          socket.destroy();
          resolve("still open after 20 s");
        }, 20_000);
        socket.once("close", () => {
          clearTimeout(giveUp);
          resolve("closed by the server");
        });
      });
      expect([closedBy, accepted.length]).toEqual(["closed by the server", 0]);
    } finally {
      listener.close();
      listener.destroyConnections();
    }
  });
});
