/**
 * Exchanger defects found in the third review, against the real stack and a real provider (HTTPS on loopback, a
 * throwaway CA the services trust): an RFC 7662 answer that agrees with a provider token on `iss`, `sub` and
 * `client_id` but is about another token (another `jti`, `exp` or audience) taken as the provider's word that this
 * one is still active.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_TYPES } from "@sts/nats";
import { makeTestCa } from "@sts/testkit";
import { basicAuth, claimsOf, postForm, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT } from "./chain.js";
import { startIdentityProvider } from "./identity-provider.js";
import type { IdentityProvider } from "./identity-provider.js";

const IDP = "https://idp-review3.test.example/realms/main";
const INTROSPECTION_CLIENT = { id: "sts-exchanger", secret: "introspection-secret-0004" };

let dir: string;
let stack: Stack;
let idp: IdentityProvider;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sts-exchanger-review3-"));
  const ca = makeTestCa(dir, "idp-ca");
  idp = await startIdentityProvider({ issuer: IDP, ca, name: "idp-review3", client: INTROSPECTION_CLIENT });
  const secretFile = join(dir, "introspection-secret");
  writeFileSync(secretFile, INTROSPECTION_CLIENT.secret);
  stack = await startStack(
    {
      exchange: {
        trusted_issuers: [
          {
            issuer: IDP,
            jwks_uri: idp.jwksUri,
            // Keycloak's profile: access and ID tokens both typ JWT, told apart by the payload's typ.
            typ: ["JWT"],
            claims: { typ: "Bearer" },
            introspection: { endpoint: idp.introspectionEndpoint, client_id: INTROSPECTION_CLIENT.id, client_secret_file: secretFile, cache_ttl: 1 },
          },
        ],
      },
      policy: { hops: [{ from: "edge", to: "svc-a", scopes: ["a", "b"] }] },
      clients: [{ client_id: "edge", client_secret: SECRET, grant_types: [EXCHANGE_GRANT], audience: [] }],
    },
    { services: ["issuer", "policy", "exchanger", "gateway"], env: { NODE_EXTRA_CA_CERTS: ca.ca_file } },
  );
}, 90_000);

afterAll(async () => {
  await idp?.close();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** edge exchanges a provider token for svc-a at the gateway. */
const exchangeAtGateway = (subject: string) =>
  postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    { grant_type: EXCHANGE_GRANT, subject_token: subject, subject_token_type: TOKEN_TYPE_AT, audience: "svc-a", scope: "a" },
    { authorization: basicAuth("edge", SECRET) },
  );

/** The token.exchanged events made from the provider token `jti` (their parent is `<issuer>#<jti>`). */
async function exchangedFrom(jti: unknown): Promise<number> {
  return (await storedEvents(stack.nats.url)).filter((e) => e.type === EVENT_TYPES.TOKEN_EXCHANGED && e.data.parent_jti === `${IDP}#${String(jti)}`).length;
}

describe("a provider's active introspection answer about another token (RFC 7662 §2.2)", () => {
  it("is not taken for this token when its jti, exp or aud differs: invalid_request, nothing minted; the same answer naming this token is", async () => {
    /** The provider's answer for one of its tokens, as it answers about that token, with `changed` members over it. */
    const answerFor = (token: string, changed: Record<string, unknown>) => {
      const { iss, sub, azp, jti, exp, aud, scope } = claimsOf(token);
      return JSON.stringify({ active: true, iss, sub, client_id: azp, jti, exp, aud, scope, token_type: "Bearer", ...changed });
    };
    const outcome = async (changed: Record<string, unknown>): Promise<unknown[]> => {
      const token = await idp.token();
      idp.reply = (t) => (t === token ? { body: answerFor(token, changed) } : undefined);
      try {
        const r = await exchangeAtGateway(token);
        return [r.status, r.body.error ?? null, r.body.error_description ?? null, idp.callsFor(token).length, await exchangedFrom(claimsOf(token).jti)];
      } finally {
        idp.reply = undefined;
      }
    };
    const now = Math.floor(Date.now() / 1000);
    const aboutAnother = [400, "invalid_request", "subject_token rejected: its issuer's introspection answer is about another token", 1, 0];
    expect({
      "this token": await outcome({}),
      "another jti": await outcome({ jti: "another-token-of-the-same-session" }),
      "another exp": await outcome({ exp: now + 3_600 }),
      "another audience": await outcome({ aud: "billing" }),
    }).toEqual({
      "this token": [200, null, null, 1, 1],
      "another jti": aboutAnother,
      "another exp": aboutAnother,
      "another audience": aboutAnother,
    });
  });
});
