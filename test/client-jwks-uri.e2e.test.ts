/**
 * A client's jwks_uri as the issuer process fetches it (RFC 7523 private_key_jwt), from a real HTTPS key server on
 * loopback named `localhost`: the issuer opens no connection to an internal address, whatever name leads there, and
 * the client is refused like any other (server-side request forgery); once the operator lists loopback in
 * client_jwks_uri.allow_private_networks (an on-premise key server's network), the same client authenticates. A
 * registration naming an internal address is refused whatever the operator allows.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportJWK, generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import { parse, stringify } from "yaml";
import { basicAuth, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { assertionAuthenticated, assertionClaims, jwksUriClient, startKeyServer } from "./key-server.js";
import type { KeyServer } from "./key-server.js";

const CLIENT_ID = "keys-on-loopback";
const ADMIN = { client_id: "admin:keys", client_secret: "admin-keys-secret-00000001" };
let stack: Stack;
let keyServer: KeyServer;
let key: CryptoKey;
let tokenUrl: string;

/** A client_credentials request authenticated by a fresh assertion signed with the key the key server publishes. */
const authenticate = () => assertionAuthenticated(tokenUrl, key, assertionClaims(CLIENT_ID, stack.gatewayUrl));

beforeAll(async () => {
  const pair = await generateKeyPair("ES256");
  key = pair.privateKey;
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" }] });
  keyServer = await startKeyServer((_req, res) => res.writeHead(200, { "content-type": "application/jwk-set+json" }).end(jwks));
  const port = keyServer.port;
  stack = await startStack(
    {
      clients: [jwksUriClient(CLIENT_ID, port)],
    },
    // The issuer trusts the key server's certificate the way a deployment adds a private CA.
    { services: ["issuer", "gateway"], env: { NODE_EXTRA_CA_CERTS: keyServer.caFile } },
  );
  tokenUrl = `${stack.gatewayUrl}/oauth2/token`;
}, 90_000);

afterAll(async () => {
  await stack?.stop();
  await keyServer?.close();
});

describe("a client's jwks_uri on an internal address", () => {
  it("is never connected to by default: the client is refused as any failed authentication is", async () => {
    const r = await authenticate();
    expect([r.status, r.body]).toEqual([401, { error: "invalid_client", error_description: "client authentication failed" }]);
    expect(keyServer.connections()).toBe(0);
  });

  describe("once the operator allows its network (client_jwks_uri.allow_private_networks)", () => {
    let registerUrl: string;

    beforeAll(async () => {
      registerUrl = `${stack.gatewayUrl}/oauth2/register`;
      await stack.processes.issuer?.stop();
      const config = parse(readFileSync(stack.configFile, "utf8")) as { clients: unknown[] } & Record<string, unknown>;
      config.client_jwks_uri = { allow_private_networks: ["127.0.0.0/8", "::1/128"] };
      config.clients.push({ ...ADMIN, admin: true, audience: [registerUrl], manages: { audience: ["storage"], scope: ["read"] } });
      writeFileSync(stack.configFile, stringify(config));
      await stack.start("issuer");
    }, 60_000);

    it("is fetched, and the client authenticates with the key published there", async () => {
      const r = await authenticate();
      expect([r.status, r.body.error]).toEqual([200, undefined]);
      expect(keyServer.connections()).toBeGreaterThan(0);
    });

    it("still cannot be registered by address: a registration names a host, never an internal address", async () => {
      const admin = await postForm(
        tokenUrl,
        { grant_type: "client_credentials", resource: registerUrl },
        { authorization: basicAuth(ADMIN.client_id, ADMIN.client_secret) },
      );
      expect(admin.status).toBe(200);
      const res = await fetch(registerUrl, {
        method: "POST",
        headers: { authorization: `Bearer ${admin.body.access_token as string}`, "content-type": "application/json" },
        body: JSON.stringify({
          token_endpoint_auth_method: "private_key_jwt",
          jwks_uri: "https://169.254.169.254/latest/meta-data/",
          scope: "read",
          audience: ["storage"],
        }),
      });
      expect([res.status, await res.json()]).toEqual([
        400,
        {
          error: "invalid_client_metadata",
          error_description: "jwks_uri: its host is a private, loopback, link-local or other non-public address, which the issuer does not fetch from",
        },
      ]);
    });
  });
});
