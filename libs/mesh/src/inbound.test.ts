import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import type { JWK } from "jose";
import { remoteKeySet } from "@sts/jwt";
import { verifyInbound } from "./inbound.js";

const NOW = 1_800_000_000;
const ISSUER = "https://sts.test";
const NOT_REVOKED = { isRevoked: () => false, subjectRevokedAt: () => undefined, isKeyWithdrawn: () => false };

let jwks: { keys: JWK[] } = { keys: [] };
let up = true;
let server: Server;
let url: URL;
let token: string;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" }] };
  token = await new SignJWT({ iss: ISSUER, sub: "alice", aud: "svc-b", iat: NOW, exp: NOW + 60, jti: "j1", client_id: "svc-a", scope: "b" })
    .setProtectedHeader({ alg: "ES256", kid: "k1", typ: "at+jwt" })
    .sign(privateKey);
  // The issuer's JWKS endpoint, which the test takes down (503) or empties.
  server = createServer((_req, res) => {
    if (!up) res.writeHead(503).end();
    else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/jwks`);
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** The outcome of verifying the token with a fresh key cache (so each case fetches the JWKS). */
const outcome = (): Promise<string> =>
  verifyInbound(token, {
    issuer: ISSUER,
    audience: "svc-b",
    keys: remoteKeySet(url, { timeoutDuration: 1_000 }, "this stack's issuer"),
    revocations: NOT_REVOKED,
    now: () => NOW,
  }).then(
    (caller) => `accepted ${caller.sub}`,
    (err: { code?: string }) => err.code ?? "thrown",
  );

describe("verifyInbound with the issuer's JWKS fetched over HTTP", () => {
  it("accepts a token its key verifies, refuses one whose kid names no key (invalid_token), and answers temporarily_unavailable when the JWKS cannot be fetched", async () => {
    expect(await outcome()).toBe("accepted alice");
    const kept = jwks;
    jwks = { keys: [{ ...kept.keys[0], kid: "k2" }] };
    expect(await outcome()).toBe("invalid_token");
    jwks = kept;
    // The issuer's keys out of reach is the verifier's outage: retryable (503 at a sidecar), not the token's fault.
    up = false;
    try {
      expect(await outcome()).toBe("temporarily_unavailable");
    } finally {
      up = true;
    }
    expect(await outcome()).toBe("accepted alice");
  });
});
