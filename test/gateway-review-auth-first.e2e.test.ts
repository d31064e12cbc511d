/**
 * Introspection and revocation judge the caller's credentials before anything else in its request: a caller whose
 * credentials are invalid is answered 401 invalid_client (RFC 7662 §2.3, RFC 7009 §2.2.1 → RFC 6749 §5.2), even when
 * its request also lacks the token, and learns nothing more. A real issuer and gateway on a real nats-server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { basicAuth, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";

const SECRET = "gateway-auth-first-secret-01";

let stack: Stack;

beforeAll(async () => {
  const clients = [{ client_id: "rs", client_secret: SECRET, scope: ["read"], audience: ["api-1"] }];
  stack = await startStack({ clients }, { services: ["issuer", "gateway"] });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe.each(["/oauth2/introspect", "/oauth2/revoke"])("%s without a token", (path) => {
  it("is 401 invalid_client with a Basic challenge when the credentials are wrong", async () => {
    const res = await postForm(`${stack.gatewayUrl}${path}`, {}, { authorization: basicAuth("rs", "not-the-secret-of-rs-000") });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: "invalid_client", error_description: "client authentication failed" });
    expect(res.headers.get("www-authenticate")).toMatch(/^Basic /);
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("is 401 invalid_client when no credentials came at all", async () => {
    const res = await postForm(`${stack.gatewayUrl}${path}`, { token_type_hint: "access_token" });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: "invalid_client", error_description: "client authentication required" });
  });

  it("is 400 invalid_request once the client is authenticated", async () => {
    const res = await postForm(`${stack.gatewayUrl}${path}`, { token: "" }, { authorization: basicAuth("rs", SECRET) });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_request", error_description: "token is required" });
  });
});
