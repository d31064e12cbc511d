/**
 * Client authentication with private_key_jwt against the real issuer and gateway, for two defects found in review:
 *
 * - a client's jwks_uri whose server answers 200 with something that is no JWK Set (a proxy's HTML page) was fetched
 *   again for every assertion, although the README promises no fetch within 5 s of a failed one: the issuer became a
 *   request reflector at its callers' rate, towards any public URL anyone could register;
 * - a client assertion typed as another kind of JWT was refused only when its typ ended in `+jwt`, so
 *   `at+jwt; charset=utf-8` passed (RFC 8725 §3.11; the README lists absent, JWT, JOSE and client-authentication+jwt).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportJWK, generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import { startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { assertionAuthenticated, assertionClaims, jwksUriClient, startKeyServer } from "./key-server.js";
import type { KeyServer } from "./key-server.js";

/** Keys at a jwks_uri whose server answers every request with an HTML page and 200. */
const HTML_KEYS = "keys-behind-a-proxy";
/** Keys registered inline. */
const INLINE_KEYS = "inline-keys";
let stack: Stack;
let keyServer: KeyServer;
/** Requests the key server received. */
let fetched = 0;
let key: CryptoKey;
let tokenUrl: string;

const claimsFor = (clientId: string): Record<string, unknown> => assertionClaims(clientId, stack.gatewayUrl);

/** A client_credentials request authenticated by an assertion of `claims`, typed `typ` (none when undefined). */
const authenticate = (claims: Record<string, unknown>, typ?: string) => assertionAuthenticated(tokenUrl, key, claims, typ);

beforeAll(async () => {
  const pair = await generateKeyPair("ES256");
  key = pair.privateKey;
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  keyServer = await startKeyServer((_req, res) => {
    fetched += 1;
    res.writeHead(200, { "content-type": "text/html" }).end("<html><body>502 Bad Gateway</body></html>");
  });
  const port = keyServer.port;
  stack = await startStack(
    {
      // The key server is on loopback: allowed as an on-premise key server's network would be.
      client_jwks_uri: { allow_private_networks: ["127.0.0.0/8", "::1/128"] },
      clients: [
        jwksUriClient(HTML_KEYS, port),
        { client_id: INLINE_KEYS, token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [publicJwk] }, scope: ["read"], audience: ["storage"] },
      ],
    },
    { services: ["issuer", "gateway"], env: { NODE_EXTRA_CA_CERTS: keyServer.caFile } },
  );
  tokenUrl = `${stack.gatewayUrl}/oauth2/token`;
}, 90_000);

afterAll(async () => {
  await stack?.stop();
  await keyServer?.close();
});

describe("a client's jwks_uri answering 200 with no JWK Set", () => {
  it("is a failed fetch: asked once for a burst of assertions, not once per assertion, and each is refused alike", async () => {
    const attempts = 8;
    for (let i = 0; i < attempts; i++) {
      const r = await authenticate(claimsFor(HTML_KEYS));
      expect([r.status, r.body]).toEqual([401, { error: "invalid_client", error_description: "client authentication failed" }]);
    }
    expect(fetched).toBeGreaterThan(0);
    // One fetch, and one more per 5 s hold-off the burst outlasted (it takes well under a second): never one per assertion.
    expect(fetched).toBeLessThanOrEqual(2);
  });
});

describe("the typ of a client assertion (RFC 8725 §3.11)", () => {
  it("refuses another kind of JWT spelled with a media type parameter, spending nothing", async () => {
    const claims = claimsFor(INLINE_KEYS);
    const refused = await authenticate(claims, "at+jwt; charset=utf-8");
    expect([refused.status, refused.body]).toEqual([401, { error: "invalid_client", error_description: "assertion rejected: unexpected token type" }]);
    // The refused assertion's jti was not spent: the same claims typed JWT still authenticate.
    const ok = await authenticate(claims, "JWT");
    expect([ok.status, ok.body.error]).toEqual([200, undefined]);
  });

  it("takes client-authentication+jwt (draft-ietf-oauth-rfc7523bis)", async () => {
    const r = await authenticate(claimsFor(INLINE_KEYS), "client-authentication+jwt");
    expect([r.status, r.body.error]).toEqual([200, undefined]);
  });
});
