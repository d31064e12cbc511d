/**
 * Names the stack keys its NATS records by (client ids, subjects) that are not well-formed Unicode: a JWT's claims
 * carry a lone UTF-16 surrogate through a JSON escape (`"\ud800"`), which UTF-8 would write as U+FFFD, so two names
 * would share one record. They are refused as bad input (a 4xx, never a 500), and nothing is issued for them.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import { postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";

const SIGNER = "batch-signer";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** A name with a lone surrogate, as JSON.parse makes it from `"alice\ud800"`. */
const LONE = JSON.parse('"alice\\ud800"') as string;

let stack: Stack;
let key: CryptoKey;
const now = (): number => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = pair.privateKey;
  stack = await startStack({
    clients: [
      {
        client_id: SIGNER,
        token_endpoint_auth_method: "private_key_jwt",
        jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "signer-key", alg: "ES256" }] },
        grant_types: [JWT_BEARER, "client_credentials"],
        scope: ["a"],
        audience: ["svc-a"],
      },
    ],
  });
}, 90_000);

afterAll(async () => {
  await stack?.stop();
});

/** A JWT signed with the signer's key; JSON.stringify keeps a lone surrogate as its `\ud800` escape. */
const signed = (claims: Record<string, unknown>): Promise<string> =>
  new SignJWT({ aud: stack.gatewayUrl, jti: randomUUID(), iat: now(), exp: now() + 300, ...claims })
    .setProtectedHeader({ alg: "ES256", kid: "signer-key" })
    .sign(key);

/** The token endpoint's answer to `form`, the signer authenticated by private_key_jwt unless `form` says otherwise. */
async function token(form: Record<string, string>): Promise<{ status: number; error: unknown; issued: boolean }> {
  const r = await postForm(`${stack.gatewayUrl}/oauth2/token`, {
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: await signed({ iss: SIGNER, sub: SIGNER }),
    ...form,
  });
  return { status: r.status, error: r.body.error, issued: typeof r.body.access_token === "string" };
}

describe("a name that is not well-formed Unicode", () => {
  it("as the subject of an RFC 7523 assertion, issues nothing and is a client error", async () => {
    // The same subject well-formed is issued for: the refusal is the surrogate's.
    expect(await token({ grant_type: JWT_BEARER, assertion: await signed({ iss: SIGNER, sub: "alice\uFFFD" }) })).toMatchObject({ status: 200, issued: true });
    const refused = await token({ grant_type: JWT_BEARER, assertion: await signed({ iss: SIGNER, sub: LONE }) });
    // invalid_grant (RFC 7523 §3.1): the name meets the revocations bucket, whose key encoding refuses it.
    expect(refused).toEqual({ status: 400, error: "invalid_grant", issued: false });
  });

  it("as the issuer of a client assertion (RFC 7523 §3.2), authenticates no client and is a client error", async () => {
    const r = await token({ grant_type: "client_credentials", scope: "a", client_assertion: await signed({ iss: LONE, sub: LONE }) });
    // Such an id names no client: invalid_client (401), as for any unknown one.
    expect(r).toEqual({ status: 401, error: "invalid_client", issued: false });
  });
});
