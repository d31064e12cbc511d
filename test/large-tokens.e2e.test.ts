/**
 * tokens.max_token_bytes raised past the default: requests within every configured limit reach the service that judges
 * them, instead of being refused on the way in by a gRPC message limit sized for the default.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { basicAuth, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT } from "./chain.js";

const MAX_TOKEN_BYTES = 65_536;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    tokens: { max_token_bytes: MAX_TOKEN_BYTES },
    clients: [{ client_id: "svc-a", client_secret: SECRET, grant_types: ["client_credentials", EXCHANGE_GRANT], scope: ["a"], audience: ["svc-b"] }],
  });
}, 90_000);

afterAll(async () => {
  await stack?.stop();
});

/** A JWT-shaped string of `bytes` characters that no key signed. */
const bigToken = (bytes: number): string => `eyJhbGciOiJFUzI1NiJ9.${"A".repeat(bytes - 64)}.${"B".repeat(42)}`.slice(0, bytes);

describe(`tokens.max_token_bytes ${MAX_TOKEN_BYTES}`, () => {
  it("lets an exchange with a subject and an actor token within the limit (over 64 KiB together) be judged by the exchanger", async () => {
    const r = await postForm(
      `${stack.gatewayUrl}/oauth2/token`,
      {
        grant_type: EXCHANGE_GRANT,
        subject_token: bigToken(50_000),
        subject_token_type: TOKEN_TYPE_AT,
        actor_token: bigToken(50_000),
        actor_token_type: TOKEN_TYPE_AT,
        audience: "svc-b",
      },
      { authorization: basicAuth("svc-a", SECRET) },
    );
    // The exchanger read it and refused the unsigned subject token (RFC 8693 §2.2.2), not a message too large for it.
    expect(r.status).toBe(400);
    expect(r.body.error).toBe("invalid_request");
    expect(r.body.error_description).toMatch(/subject_token/);
  });

  it("lets an introspection of a token within the limit, by a client authenticated with a large assertion, reach the issuer", async () => {
    const r = await postForm(`${stack.gatewayUrl}/oauth2/introspect`, {
      token: bigToken(60_000),
      client_id: "svc-a",
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: bigToken(20_000),
    });
    // The issuer read it and judged the client's assertion (svc-a has no keys), not a message too large for it.
    expect(r.status).toBe(401);
    expect(r.body.error).toBe("invalid_client");
  });
});
