import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { OAuthError } from "@sts/errors";
import { BUCKETS, connectNats, encodeKey, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { verifyInbound } from "./inbound.js";
import { openStackTokens } from "./stack-tokens.js";

const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
let server: NatsServerHandle;
let nats: NatsHandle;
/** The issuer's HTTP side: its JWKS at /oauth2/jwks, as the gateway serves it. */
let jwks: Server;
let issuer: string;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "stack-tokens-test" });
  const body = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" }] });
  jwks = createServer((req, res) => {
    res.writeHead(req.url === "/oauth2/jwks" ? 200 : 404, { "content-type": "application/json" }).end(body);
  });
  await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
  issuer = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}`;
}, 30_000);

afterAll(async () => {
  await new Promise((resolve) => jwks?.close(resolve));
  await nats?.close();
  await server?.stop();
});

const accessToken = (jti: string, aud: string): Promise<string> =>
  new SignJWT({ client_id: "ops", scope: "policy:read", jti })
    .setProtectedHeader({ alg: "ES256", kid: "k1", typ: "at+jwt" })
    .setIssuer(issuer)
    .setSubject("ops")
    .setAudience(aud)
    .setIssuedAt()
    .setExpirationTime("2m")
    .sign(privateKey);

const refusal = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => "accepted",
    (err: unknown) => (err instanceof OAuthError ? err.code : String(err)),
  );

describe("openStackTokens", () => {
  it("verifies the stack's tokens for one audience against the issuer's JWKS and its revocations bucket", async () => {
    // The issuer owns the bucket; a verifier only binds to it.
    const kv = await openBucket(nats, BUCKETS.revocations, { owner: true });
    const tokens = await openStackTokens(nats, {
      issuer,
      audience: "sts-policy",
      tokens: { clock_tolerance: 0, max_token_bytes: 8192, revocation_max_staleness: 30 },
    });
    try {
      const caller = await verifyInbound(await accessToken("j-1", "sts-policy"), tokens.inbound);
      expect([caller.sub, caller.claims.jti, caller.scopes]).toEqual(["ops", "j-1", ["policy:read"]]);
      expect(await refusal(verifyInbound(await accessToken("j-2", "sts-audit"), tokens.inbound))).toBe("invalid_token");

      const revoked = await accessToken("j-3", "sts-policy");
      expect(await refusal(verifyInbound(revoked, tokens.inbound))).toBe("accepted");
      await kv.put(encodeKey("j-3"), JSON.stringify({ jti: "j-3", exp: Math.floor(Date.now() / 1000) + 120, revoked_at: 0, by: "ops" }));
      await waitFor(async () => (await refusal(verifyInbound(revoked, tokens.inbound))) === "invalid_token", {
        timeoutMs: 5_000,
        message: "the revocation was not seen",
      });
    } finally {
      tokens.stop();
    }
  });
});
