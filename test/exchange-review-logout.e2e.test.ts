/**
 * A back-channel logout token (OpenID Connect Back-Channel Logout 1.0 §2.6)
 * naming a subject no token of this stack can carry: refused as a bad logout
 * token (400), never a server error the provider would retry. The provider is
 * real (HTTPS on loopback, a throwaway CA the services trust), and so are the
 * stack's processes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_TYPES } from "@sts/nats";
import { makeTestCa } from "@sts/testkit";
import { postForm, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";
import { startIdentityProvider } from "./identity-provider.js";
import type { IdentityProvider } from "./identity-provider.js";

const IDP = "https://idp-review.test.example/realms/main";

let dir: string;
let stack: Stack;
let idp: IdentityProvider;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sts-review-logout-"));
  const ca = makeTestCa(dir, "idp-ca");
  idp = await startIdentityProvider({ issuer: IDP, ca, name: "idp" });
  stack = await startStack(
    {
      exchange: {
        trusted_issuers: [{ issuer: IDP, jwks_uri: idp.jwksUri, typ: ["JWT"], claims: { typ: "Bearer" }, backchannel_logout: { audience: "mesh-sts" } }],
      },
      clients: [],
    },
    { services: ["issuer", "policy", "exchanger", "gateway"], env: { NODE_EXTRA_CA_CERTS: ca.ca_file } },
  );
}, 90_000);

afterAll(async () => {
  await idp?.close();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const logout = (logoutToken: string) => postForm(`${stack.gatewayUrl}/oauth2/backchannel-logout`, { logout_token: logoutToken });

describe("a logout token whose sub is longer than any subject a token of this stack carries (1024 bytes)", () => {
  it("is refused with invalid_request (400), not answered 500, and signs nobody out", async () => {
    const sub = "u".repeat(1025);
    const r = await logout(await idp.logoutToken({ sub }));
    expect([r.status, r.body.error]).toEqual([400, "invalid_request"]);
    const revocations = (await storedEvents(stack.nats.url)).filter((e) => e.type === EVENT_TYPES.SUBJECT_REVOKED && e.data.iss === IDP);
    expect(revocations).toEqual([]);

    // The longest subject that can be carried is still signed out.
    const longest = await logout(await idp.logoutToken({ sub: "u".repeat(1024) }));
    expect(longest.status, JSON.stringify(longest.body)).toBe(200);
  });
});
