/**
 * The issuer's user grants against a real stack (nats-server, issuer, gateway): one JWT a client signed is spent
 * once whichever parameter carries it (RFC 7519 §4.1.7), and a refresh asked for fewer of its audiences (RFC 8707
 * §2.2) gets a token for those only; an assertion refused for the token it asked stays unspent, and one naming a
 * user with a control character is refused (RFC 7523 §3.1).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import { claimsOf, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";

const CLIENT_ID = "batch-runner";
/** A client of the same key whose second API takes opaque tokens. */
const MIXED_ID = "mixed-runner";
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const API_1 = "https://api-1.example/";
const API_2 = "https://api-2.example/";

let stack: Stack;
let key: CryptoKey;
let tokenUrl: string;

const now = (): number => Math.floor(Date.now() / 1000);

/** A JWT the client signs: its client assertion with the defaults, or a grant assertion with `over`. */
async function signed(over: Record<string, unknown> = {}): Promise<string> {
  const claims = { iss: CLIENT_ID, sub: CLIENT_ID, aud: stack.gatewayUrl, iat: now(), exp: now() + 60, jti: randomUUID(), ...over };
  return new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(key);
}

/** A token request authenticated with `clientAssertion` (a fresh one by default). */
async function tokenRequest(form: Record<string, string | string[]>, clientAssertion?: string) {
  return postForm(tokenUrl, { ...form, client_assertion_type: ASSERTION_TYPE, client_assertion: clientAssertion ?? (await signed()) });
}

/** A token request of the mixed-format client, authenticated with a fresh client assertion of its own. */
async function mixedRequest(form: Record<string, string | string[]>) {
  return tokenRequest(form, await signed({ iss: MIXED_ID, sub: MIXED_ID }));
}

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = pair.privateKey;
  const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" }] };
  const grants = ["client_credentials", JWT_BEARER, "refresh_token"];
  stack = await startStack(
    {
      clients: [
        {
          client_id: CLIENT_ID,
          token_endpoint_auth_method: "private_key_jwt",
          jwks,
          grant_types: grants,
          refresh_token_ttl: "1h",
          scope: ["read"],
          audience: [API_1, API_2],
        },
        {
          client_id: MIXED_ID,
          token_endpoint_auth_method: "private_key_jwt",
          jwks,
          grant_types: grants,
          scope: ["read"],
          audience: [API_1, API_2],
          access_token_format: { [API_2]: "opaque" },
        },
      ],
    },
    { services: ["issuer", "gateway"] },
  );
  tokenUrl = `${stack.gatewayUrl}/oauth2/token`;
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe("one signed JWT, one use, whichever parameter carries it (RFC 7519 §4.1.7)", () => {
  it("refuses a client assertion spent again as the jwt-bearer assertion of the same request: no refresh family from one client_credentials credential", async () => {
    const jwt = await signed();
    const r = await tokenRequest({ grant_type: JWT_BEARER, assertion: jwt, scope: "read", resource: API_1 }, jwt);
    expect([r.status, r.body.error, r.body.error_description]).toEqual([400, "invalid_grant", "assertion replayed (jti already used)"]);
    expect(r.body.refresh_token).toBeUndefined();
    expect(r.body.access_token).toBeUndefined();
  });

  it("refuses a jwt-bearer assertion naming its client spent again as a client assertion (invalid_client)", async () => {
    const jwt = await signed();
    const first = await tokenRequest({ grant_type: JWT_BEARER, assertion: jwt, scope: "read", resource: API_1 });
    expect(first.status).toBe(200);
    const again = await tokenRequest({ grant_type: "client_credentials", scope: "read" }, jwt);
    expect([again.status, again.body.error]).toEqual([401, "invalid_client"]);
  });
});

describe("audience and resource on a refresh (RFC 8707 §2.2)", () => {
  /** A refresh token of a family reaching both APIs, for jeff. */
  async function familyForBoth(): Promise<string> {
    const r = await tokenRequest({ grant_type: JWT_BEARER, assertion: await signed({ sub: "jeff" }), scope: "read", resource: [API_1, API_2] });
    expect(r.status).toBe(200);
    expect(claimsOf(r.body.access_token as string).aud).toEqual([API_1, API_2]);
    return r.body.refresh_token as string;
  }

  it("gets a token for the one API asked for, not for every API the family reaches", async () => {
    const r = await tokenRequest({ grant_type: "refresh_token", refresh_token: await familyForBoth(), resource: API_2 });
    expect(r.status).toBe(200);
    expect(claimsOf(r.body.access_token as string).aud).toBe(API_2);
    // The family keeps what it was granted: the next refresh may ask for the other one.
    const next = await tokenRequest({ grant_type: "refresh_token", refresh_token: r.body.refresh_token as string, audience: API_1 });
    expect(claimsOf(next.body.access_token as string).aud).toBe(API_1);
  });

  it("refuses a resource the family does not reach with invalid_target, and the refresh token still works", async () => {
    const rt = await familyForBoth();
    const r = await tokenRequest({ grant_type: "refresh_token", refresh_token: rt, resource: "https://elsewhere.example/" });
    expect([r.status, r.body.error]).toEqual([400, "invalid_target"]);
    expect(r.body.access_token).toBeUndefined();
    const retry = await tokenRequest({ grant_type: "refresh_token", refresh_token: rt });
    expect(retry.status).toBe(200);
    expect(claimsOf(retry.body.access_token as string).aud).toEqual([API_1, API_2]);
  });
});

describe("an assertion is spent only by a request that gets its token (review)", () => {
  it("leaves a jwt-bearer assertion usable after a request refused because its audiences take different token formats (invalid_target)", async () => {
    const assertion = await signed({ iss: MIXED_ID, sub: "jeff" });
    const mixed = await mixedRequest({ grant_type: JWT_BEARER, assertion, scope: "read", resource: [API_1, API_2] });
    expect([mixed.status, mixed.body.error]).toEqual([400, "invalid_target"]);
    // The corrected request, with the same assertion: the refusal above spent nothing.
    const corrected = await mixedRequest({ grant_type: JWT_BEARER, assertion, scope: "read", resource: API_2 });
    expect([corrected.status, corrected.body.error_description]).toEqual([200, undefined]);
    expect(corrected.body.access_token as string).toMatch(/^sto_/);
    const again = await mixedRequest({ grant_type: JWT_BEARER, assertion, scope: "read", resource: API_2 });
    expect([again.status, again.body.error_description]).toEqual([400, "assertion replayed (jti already used)"]);
  });
});

describe("a user named with a control character (review)", () => {
  it("is refused as the subject of a jwt-bearer assertion (invalid_grant, RFC 7523 §3.1): no token, no refresh family", async () => {
    for (const sub of ["jeff\u0000", "jeff\nadmin"]) {
      const r = await tokenRequest({ grant_type: JWT_BEARER, assertion: await signed({ sub }), scope: "read", resource: API_1 });
      expect([r.status, r.body.error, r.body.error_description]).toEqual([
        400,
        "invalid_grant",
        "assertion rejected: sub holds a control character or is not well-formed Unicode",
      ]);
      expect([r.body.access_token, r.body.refresh_token]).toEqual([undefined, undefined]);
    }
    // The same user well named gets its token.
    const ok = await tokenRequest({ grant_type: JWT_BEARER, assertion: await signed({ sub: "jeff" }), scope: "read", resource: API_1 });
    expect(claimsOf(ok.body.access_token as string).sub).toBe("jeff");
  });
});
