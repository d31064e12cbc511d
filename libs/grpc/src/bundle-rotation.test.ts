/**
 * A gRPC server of the stack whose CA bundle rotates re-checks the connections already open: TLS verified their peer
 * chains against the old bundle only. Real TLS, a real PKI made with openssl.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { OAuthError } from "@sts/errors";
import { createLogger } from "@sts/telemetry";
import { makeTestCa, waitFor } from "@sts/testkit";
import type { CertFiles, TestCa } from "@sts/testkit";
import { unary } from "./adapter.js";
import { callUnary, createClient } from "./client.js";
import { startGrpcServer } from "./server.js";
import type { GrpcServerHandle } from "./server.js";
import { MaterialProvider, grpcCredentials, providerCredentials } from "./tls.js";
import type { GrpcCredentials } from "./tls.js";
import type { TlsMaterial } from "./tls-material.js";
import { jsonMethod } from "./json-method.fixture.js";

const logger = createLogger("test", { level: "silent" });
let dir: string;
/** The CA taken out of the bundle, and the one that stays. */
let leaving: TestCa;
let staying: TestCa;
let serverCert: CertFiles;
/** Both CAs' certificates: the bundle before the rotation. */
let bothCas: Buffer;
const cleanups: Array<() => unknown> = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-grpc-bundle-rotation-"));
  leaving = makeTestCa(dir, "leaving-ca");
  staying = makeTestCa(dir, "staying-ca");
  serverCert = staying.issue("server");
  bothCas = Buffer.concat([readFileSync(leaving.ca_file), readFileSync(staying.ca_file)]);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const definition = { Who: jsonMethod("/t.T/Who"), Hang: jsonMethod("/t.T/Hang") };
const Client = grpc.makeGenericClientConstructor(definition, "T");

/** The server's material with `ca` as its bundle. */
const serverMaterial = (ca: Buffer): TlsMaterial => ({ cert: readFileSync(serverCert.cert_file), key: readFileSync(serverCert.key_file), ca });

/** A mutual-TLS server on `credentials`: Who answers with the connection a call came over; Hang never answers. */
async function whoServer(credentials: GrpcCredentials): Promise<{ server: GrpcServerHandle; peers: string[]; hanging: Set<string> }> {
  const peers: string[] = [];
  const hanging = new Set<string>();
  const Who = unary(
    async (_req: unknown, ctx) => {
      peers.push(ctx.peer);
      return { peer: ctx.peer };
    },
    { name: "Who", logger },
  );
  const Hang = unary(
    (_req: unknown, ctx) => {
      hanging.add(ctx.peer);
      return new Promise<never>(() => undefined);
    },
    { name: "Hang", logger },
  );
  const server = await startGrpcServer({ port: 0, logger, services: [{ definition, implementation: { Who, Hang } }], credentials: credentials.server });
  cleanups.push(() => server.shutdown(100));
  return { server, peers, hanging };
}

/** A client presenting `cert`, trusting the server's CA; closed after the test. */
function clientWith(server: GrpcServerHandle, cert: CertFiles): grpc.Client {
  const credentials = grpcCredentials({ ...cert, ca_file: staying.ca_file, require_client_cert: true });
  const client = createClient(Client, `127.0.0.1:${server.port}`, credentials.channelTo());
  cleanups.push(() => client.close());
  return client;
}

const who = (client: grpc.Client): Promise<{ peer: string }> => callUnary(client, "Who", {}, { deadlineMs: 3_000 });

/** The OAuthError `p` rejects with (fails the test when it resolves). */
async function refusal(p: Promise<unknown>): Promise<OAuthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof OAuthError)) throw new Error(`expected an OAuthError, got ${String(err)}`);
  return err;
}

describe("a TLS server whose CA bundle rotates", () => {
  it("closes the open connection of a peer whose CA left the bundle; a peer of a CA that stays keeps its connection", async () => {
    const provider = new MaterialProvider(serverMaterial(bothCas));
    const { server, peers } = await whoServer(providerCredentials(provider, { require_client_cert: true }));
    const cut = clientWith(server, leaving.issue("cut-peer", "spiffe://example.org/cut"));
    const kept = clientWith(server, staying.issue("kept-peer", "spiffe://example.org/kept"));
    const cutPeer = (await who(cut)).peer;
    const keptPeer = (await who(kept)).peer;

    provider.apply(serverMaterial(readFileSync(staying.ca_file)));

    // Its connection is gone, and a new handshake against the new bundle refuses it: the handler never sees the call.
    expect((await refusal(who(cut))).code).toBe("temporarily_unavailable");
    expect(peers.filter((p) => p === cutPeer)).toHaveLength(1);
    // Over the very connection it opened before the rotation.
    expect(await who(kept)).toEqual({ peer: keptPeer });
  });

  it("ends a call under way from a peer whose CA left the bundle, at the rotation rather than at its deadline", async () => {
    const provider = new MaterialProvider(serverMaterial(bothCas));
    const { server, hanging } = await whoServer(providerCredentials(provider, { require_client_cert: true }));
    const cut = clientWith(server, leaving.issue("hanging-peer", "spiffe://example.org/hanging"));
    const underWay = callUnary(cut, "Hang", {}, { deadlineMs: 15_000 });
    await waitFor(() => hanging.size === 1, { timeoutMs: 5_000, message: "the call never reached the server" });

    provider.apply(serverMaterial(readFileSync(staying.ca_file)));

    // UNAVAILABLE (the connection closed), not DEADLINE_EXCEEDED (the connection kept): both are temporarily_unavailable.
    const err = await refusal(underWay);
    expect((err.cause as grpc.ServiceError).code).toBe(grpc.status.UNAVAILABLE);
  });

  it("closes such a connection when ca_file is rewritten (grpc_tls.reload_interval)", async () => {
    const caFile = join(dir, "rotating-bundle.pem");
    writeFileSync(caFile, bothCas);
    const files = grpcCredentials({ ...serverCert, ca_file: caFile, require_client_cert: true, reload_interval: 1 });
    const { server, peers } = await whoServer(files);
    const cut = clientWith(server, leaving.issue("file-cut-peer", "spiffe://example.org/file-cut"));
    const cutPeer = (await who(cut)).peer;

    copyFileSync(staying.ca_file, caFile);

    const err = await waitFor(
      () =>
        who(cut).then(
          () => undefined,
          (e: unknown) => e,
        ),
      {
        timeoutMs: 10_000,
        intervalMs: 200,
        message: "the connection opened before ca_file changed still carries calls",
      },
    );
    expect(err).toBeInstanceOf(OAuthError);
    expect(peers.filter((p) => p === cutPeer).length).toBeGreaterThanOrEqual(1);
  });
});
