/**
 * grpc_tls with reload_interval: when ca_file is rewritten without a CA the
 * bundle held before, a peer whose certificate chains only to that CA loses
 * the connection it opened before, at the next reload rather than at the
 * connection's maximum age (30 min). A real issuer process, a real PKI made
 * with openssl.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { grpcCredentials } from "@sts/grpc";
import type { CertFiles, TestCa } from "@sts/testkit";
import { loadTokenProto } from "@sts/proto";
import type { TokenServiceClient } from "@sts/proto";
import { makeTestCa, waitFor } from "@sts/testkit";
import { startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { call } from "./chain.js";

let dir: string;
let stack: Stack;
let staying: TestCa;
let leaving: TestCa;
let caFile: string;
const opened: TokenServiceClient[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sts-tls-review-"));
  staying = makeTestCa(dir, "staying-ca");
  leaving = makeTestCa(dir, "leaving-ca");
  caFile = join(dir, "bundle.pem");
  writeFileSync(caFile, Buffer.concat([readFileSync(leaving.ca_file), readFileSync(staying.ca_file)]));
  stack = await startStack({ grpc_tls: { ...staying.issue("stack"), ca_file: caFile, reload_interval: 1 } }, { services: ["issuer"] });
}, 90_000);

afterAll(async () => {
  for (const c of opened) c.close();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A TokenService client presenting `cert`, trusting the stack's CA: one channel, so one connection while it lasts. */
const issuerAs = (cert: CertFiles): TokenServiceClient => {
  const channel = grpcCredentials({ ...cert, ca_file: staying.ca_file, require_client_cert: true }).channelTo();
  const client = new (loadTokenProto().sts.token.v1.TokenService)(stack.address.issuer, channel);
  opened.push(client);
  return client;
};

describe("grpc_tls: a rotated CA bundle and the connections already open", () => {
  it("cuts the open connection of a peer whose CA left ca_file; a peer of the CA that stays goes on", async () => {
    const cut = issuerAs(leaving.issue("leaving-peer"));
    const kept = issuerAs(staying.issue("staying-peer"));
    expect((await call(cut, "GetJwks", {})).ok).toBe(true);
    expect((await call(kept, "GetJwks", {})).ok).toBe(true);

    copyFileSync(staying.ca_file, caFile);

    // The issuer reads ca_file every second: the connection opened before goes at the first read that sees the change,
    // and the handshake of the next one is refused.
    const refused = await waitFor(
      async () => {
        const r = await call(cut, "GetJwks", {});
        return r.ok ? undefined : r.failure;
      },
      { timeoutMs: 15_000, intervalMs: 250, message: "a peer whose CA left ca_file still gets answers over its connection" },
    );
    expect(refused.grpcCode).toBe(status.UNAVAILABLE);
    expect((await call(kept, "GetJwks", {})).ok).toBe(true);
  });
});
