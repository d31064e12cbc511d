import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { OAuthError } from "@sts/errors";
import { createLogger } from "@sts/telemetry";
import { makeTestCa, waitFor } from "@sts/testkit";
import type { CertFiles, TestCa } from "@sts/testkit";
import { requirePeerSpiffeId, unary } from "./adapter.js";
import { callUnary, createClient } from "./client.js";
import { MAX_CONNECTION_AGE_GRACE_MS, MAX_CONNECTION_AGE_MS, startGrpcServer } from "./server.js";
import type { GrpcServerHandle, GrpcServerOptions } from "./server.js";
import { grpcCredentials } from "./tls.js";
import { jsonMethod } from "./json-method.fixture.js";

const EXCHANGER = "spiffe://example.org/exchanger";
/** Long enough for the first call to get through on a loaded machine; each expiry test waits about this long. */
const LIFETIME_MS = 4_000;

const logger = createLogger("test", { level: "silent" });
let dir: string;
let ca: TestCa;
let serverCert: CertFiles;
const cleanups: Array<() => unknown> = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-grpc-peer-expiry-"));
  ca = makeTestCa(dir, "ca");
  serverCert = ca.issue("server");
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

let issued = 0;
/** The exchanger's SVID, valid from a minute ago for `LIFETIME_MS` more; with its notAfter as the handshake reads it. */
const shortLivedSvid = (): CertFiles & { notAfter: number } => {
  const files = ca.issue(`exchanger-${++issued}`, EXCHANGER, {
    validity: { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + LIFETIME_MS) },
  });
  return { ...files, notAfter: Date.parse(new X509Certificate(readFileSync(files.cert_file)).validTo) };
};

const definition = { Who: jsonMethod("/t.T/Who") };
const Client = grpc.makeGenericClientConstructor(definition, "T");

/** A mutual-TLS server whose Who answers with the connection it came over (`ctx.peer`), after the pin when given. */
async function whoServer(pinned: string | undefined, extra: Partial<GrpcServerOptions> = {}): Promise<{ server: GrpcServerHandle; peers: string[] }> {
  const peers: string[] = [];
  const credentials = grpcCredentials({ ...serverCert, ca_file: ca.ca_file, require_client_cert: true });
  const Who = unary(
    async (_req: unknown, ctx) => {
      peers.push(ctx.peer);
      requirePeerSpiffeId(ctx, pinned, "exchanger");
      return { peer: ctx.peer };
    },
    { name: "Who", logger },
  );
  const server = await startGrpcServer({ port: 0, logger, services: [{ definition, implementation: { Who } }], credentials: credentials.server, ...extra });
  cleanups.push(() => server.shutdown(100));
  return { server, peers };
}

/** A client presenting `cert`, closed after the test. */
function clientWith(server: GrpcServerHandle, cert: CertFiles): grpc.Client {
  const credentials = grpcCredentials({ ...cert, ca_file: ca.ca_file, require_client_cert: true });
  const client = createClient(Client, `127.0.0.1:${server.port}`, credentials.channelTo());
  cleanups.push(() => client.close());
  return client;
}

const who = (client: grpc.Client): Promise<unknown> => callUnary(client, "Who", {}, { deadlineMs: 3_000 });

async function refusal(p: Promise<unknown>): Promise<OAuthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof OAuthError)) throw new Error(`expected an OAuthError, got ${String(err)}`);
  return err;
}

/** Waits until the certificate has expired on OpenSSL's clock too (whole seconds). */
const pastExpiry = (notAfter: number): Promise<unknown> => waitFor(() => Date.now() > notAfter + 1_000, { timeoutMs: LIFETIME_MS + 5_000, intervalMs: 50 });

describe("a pinned SPIFFE peer (requirePeerSpiffeId)", () => {
  it("is refused on a connection it opened while valid, once its certificate has expired", async () => {
    const { server, peers } = await whoServer(EXCHANGER);
    const svid = shortLivedSvid();
    const client = clientWith(server, svid);
    expect(await who(client)).toEqual({ peer: peers[0] });
    expect(Date.now()).toBeLessThan(svid.notAfter);
    await pastExpiry(svid.notAfter);
    const err = await refusal(who(client));
    // The same OAuth error as a wrong SPIFFE ID: the exchanger turns it into its own server_error.
    expect([err.code, err.description]).toEqual(["unauthorized_client", "caller's certificate is not the exchanger's, or not valid now"]);
    // Over the connection opened before the expiry: TLS let it through, the pin did not.
    expect(peers).toHaveLength(2);
    expect(peers[1]).toBe(peers[0]);
  });

  it("is refused when its certificate is someone else's, and accepted while it is the pinned one", async () => {
    const { server } = await whoServer("spiffe://example.org/someone-else");
    const err = await refusal(who(clientWith(server, ca.issue("exchanger-valid", EXCHANGER))));
    expect(err.code).toBe("unauthorized_client");
    const { server: pinned } = await whoServer(EXCHANGER);
    await expect(who(clientWith(pinned, ca.issue("exchanger-valid-2", EXCHANGER)))).resolves.toMatchObject({ peer: expect.any(String) });
  });
});

describe("TLS connections' age", () => {
  it("is bounded on TLS servers, so a connection re-handshakes (the trust bundle, expiry, rotation); plaintext ones are not", async () => {
    const optionsOf = (handle: GrpcServerHandle): grpc.ChannelOptions => (handle.server as unknown as { options: grpc.ChannelOptions }).options;
    const { server: tls } = await whoServer(undefined);
    expect(optionsOf(tls)).toMatchObject({
      "grpc.max_connection_age_ms": MAX_CONNECTION_AGE_MS,
      "grpc.max_connection_age_grace_ms": MAX_CONNECTION_AGE_GRACE_MS,
    });
    expect(MAX_CONNECTION_AGE_MS).toBeLessThanOrEqual(60 * 60_000);
    expect(MAX_CONNECTION_AGE_GRACE_MS).toBeGreaterThanOrEqual(60_000);
    const plain = await startGrpcServer({ port: 0, logger, services: [] });
    cleanups.push(() => plain.shutdown(100));
    expect(optionsOf(plain)["grpc.max_connection_age_ms"]).toBeUndefined();
  });

  it("ends a connection whose client certificate expired, without a pin: the next call's handshake refuses it", async () => {
    const { server, peers } = await whoServer(undefined, { maxConnectionAgeMs: 1_000 });
    const svid = shortLivedSvid();
    const client = clientWith(server, svid);
    expect(await who(client)).toEqual({ peer: peers[0] });
    await pastExpiry(svid.notAfter);
    const err = await refusal(who(client));
    expect(err.code).toBe("temporarily_unavailable");
    expect(peers).toHaveLength(1);
  });
});
