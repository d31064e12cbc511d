/**
 * Exchanger defects found in review, against the real stack and a real provider (HTTPS on loopback, a throwaway CA the
 * services trust): a trusted issuer's `may_act` read in this stack's namespace (RFC 8693 §4.4, RFC 7519 §4.1.2), and a
 * back-channel logout dropped when it arrived while the exchanger's revocation state was too old to trust.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { makeTestCa, waitFor } from "@sts/testkit";
import { basicAuth, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT, clients, exchange } from "./chain.js";
import { startIdentityProvider } from "./identity-provider.js";
import type { IdentityProvider } from "./identity-provider.js";

const IDP = "https://idp.test.example/realms/main";
const DAVE = "0c4e19aa-dave";

let dir: string;
let stack: Stack;
let idp: IdentityProvider;
let grpc: ReturnType<typeof clients>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sts-exchanger-review-"));
  const ca = makeTestCa(dir, "idp-ca");
  idp = await startIdentityProvider({ issuer: IDP, ca, name: "idp" });
  stack = await startStack(
    {
      // A revocation runs the clock tolerance ahead; the exchanger stops trusting its copy of the revocations 1 s after
      // NATS goes away, so that a short outage shows what a longer one does under the default 30 s.
      tokens: { clock_tolerance: 1, revocation_max_staleness: 1 },
      exchange: {
        trusted_issuers: [{ issuer: IDP, jwks_uri: idp.jwksUri, typ: ["JWT"], claims: { typ: "Bearer" }, backchannel_logout: { audience: "mesh-sts" } }],
      },
      policy: { hops: [{ from: "edge", to: "svc-a", scopes: ["a", "b"] }] },
      clients: [
        { client_id: "edge", client_secret: SECRET, grant_types: [EXCHANGE_GRANT], audience: [] },
        { client_id: "svc-a", client_secret: SECRET, grant_types: [EXCHANGE_GRANT], audience: [] },
      ],
    },
    { services: ["issuer", "policy", "exchanger", "gateway"], env: { NODE_EXTRA_CA_CERTS: ca.ca_file } },
  );
  grpc = clients(stack.address);
}, 90_000);

// A test that restarts NATS leaves services reconnecting: the next one starts once every service is ready again.
beforeEach(() => stack.ready(), 30_000);

afterAll(async () => {
  grpc?.close();
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

const active = async (token: string): Promise<unknown> =>
  (await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token }, { authorization: basicAuth("svc-a", SECRET) })).body.active;

describe("a trusted issuer's may_act (RFC 8693 §4.4)", () => {
  it("without iss names a party of that issuer, never this stack's client of the same name; with this stack's iss, the client", async () => {
    const theirs = await exchangeAtGateway(await idp.token({ may_act: { sub: "edge" } }));
    expect([theirs.status, theirs.body.error]).toEqual([400, "invalid_request"]);
    expect(String(theirs.body.error_description)).toMatch(/may_act/);

    const ours = await exchangeAtGateway(await idp.token({ may_act: { sub: "edge", iss: stack.gatewayUrl } }));
    expect(ours.status, JSON.stringify(ours.body)).toBe(200);
  });
});

describe("a back-channel logout arriving while the exchanger's revocation state is too old to trust", () => {
  it("is answered 503 and applied once NATS is back, not dropped: the user does not stay signed in", async () => {
    const provider = await idp.token({ sub: DAVE });
    const made = await exchangeAtGateway(provider);
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    const token = made.body.access_token as string;
    const logoutToken = await idp.logoutToken({ sub: DAVE });

    await stack.nats.kill("SIGKILL");
    try {
      // Until the exchanger refuses to verify from its copy of the revocations (past revocation_max_staleness).
      await waitFor(
        async () => {
          const r = await exchange(grpc.exchange, "edge", provider, { audience: ["svc-a"], scope: "a" });
          return !r.ok && /revocation state is out of date/.test(r.failure.description);
        },
        { timeoutMs: 30_000, intervalMs: 250, message: "the exchanger never stopped trusting its revocations" },
      );
      const r = await postForm(`${stack.gatewayUrl}/oauth2/backchannel-logout`, { logout_token: logoutToken });
      expect([r.status, r.body.error]).toEqual([503, "temporarily_unavailable"]);
    } finally {
      await stack.nats.restart();
    }
    // Nobody posts it again (Keycloak would not): the exchanger's own retry must apply it.
    await waitFor(async () => (await active(token).catch(() => true)) === false, {
      timeoutMs: 40_000,
      intervalMs: 250,
      message: "the logout was never applied",
    });
  }, 120_000);
});
