/**
 * Exchanger defects found in review, against the real stack and a real provider (HTTPS on loopback, a throwaway CA the
 * services trust): a trusted issuer's `may_act` read in this stack's namespace (RFC 8693 §4.4, RFC 7519 §4.1.2), a
 * back-channel logout dropped when it arrived while the exchanger's revocation state was too old to trust, a provider
 * token whose names the policy service cannot take answered as a target denied, a provider token with an `exp` past
 * every safe integer refused as expired, and a request the exchanger refuses by its own checks sent to the provider's
 * introspection endpoint first (and answered 503 while that cannot answer).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { makeTestCa, waitFor } from "@sts/testkit";
import { basicAuth, claimsOf, postForm, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT, clients, exchange } from "./chain.js";
import { startIdentityProvider } from "./identity-provider.js";
import type { IdentityProvider } from "./identity-provider.js";

const IDP = "https://idp.test.example/realms/main";
/** A provider whose tokens the exchanger also checks at its introspection endpoint. */
const IDP_INTROSPECTED = "https://idp-introspected.test.example/realms/main";
const INTROSPECTION_CLIENT = { id: "sts-exchanger", secret: "introspection-secret-0003" };
const DAVE = "0c4e19aa-dave";

let dir: string;
let stack: Stack;
let idp: IdentityProvider;
let introspected: IdentityProvider;
let grpc: ReturnType<typeof clients>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sts-exchanger-review-"));
  const ca = makeTestCa(dir, "idp-ca");
  [idp, introspected] = await Promise.all([
    startIdentityProvider({ issuer: IDP, ca, name: "idp" }),
    startIdentityProvider({ issuer: IDP_INTROSPECTED, ca, name: "idp-introspected", client: INTROSPECTION_CLIENT }),
  ]);
  const secretFile = join(dir, "introspection-secret");
  writeFileSync(secretFile, INTROSPECTION_CLIENT.secret);
  stack = await startStack(
    {
      // A revocation runs the clock tolerance ahead; the exchanger stops trusting its copy of the revocations 1 s after
      // NATS goes away, so that a short outage shows what a longer one does under the default 30 s.
      tokens: { clock_tolerance: 1, revocation_max_staleness: 1 },
      exchange: {
        trusted_issuers: [
          { issuer: IDP, jwks_uri: idp.jwksUri, typ: ["JWT"], claims: { typ: "Bearer" }, backchannel_logout: { audience: "mesh-sts" } },
          {
            issuer: IDP_INTROSPECTED,
            jwks_uri: introspected.jwksUri,
            typ: ["JWT"],
            claims: { typ: "Bearer" },
            introspection: {
              endpoint: introspected.introspectionEndpoint,
              client_id: INTROSPECTION_CLIENT.id,
              client_secret_file: secretFile,
              cache_ttl: 1,
              timeout_ms: 2_000,
            },
          },
        ],
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
  await introspected?.close();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** edge exchanges a provider token for svc-a at the gateway (scope a unless said). */
const exchangeAtGateway = (subject: string, more: Record<string, string> = {}) =>
  postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    { grant_type: EXCHANGE_GRANT, subject_token: subject, subject_token_type: TOKEN_TYPE_AT, audience: "svc-a", scope: "a", ...more },
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

/** The newest exchange.denied event's error code. */
async function lastDenial(): Promise<unknown> {
  const denied = (await storedEvents(stack.nats.url)).filter((e) => e.type === "exchange.denied");
  return (denied[denied.length - 1]?.data as { error?: unknown } | undefined)?.error;
}

describe("a trusted issuer's token naming what the policy service cannot take (RFC 8693 §2.2.2)", () => {
  it.each<[string, Record<string, unknown>]>([
    ["an empty audience", { aud: ["edge", ""] }],
    ["more audiences than a decision request takes (256)", { aud: ["edge", ...Array.from({ length: 300 }, (_, i) => `app-${i}`)] }],
    ["an audience longer than 1,024 characters", { aud: ["edge", "x".repeat(1025)] }],
    ["an azp longer than 1,024 characters", { azp: "w".repeat(1025) }],
    ["an empty sub", { sub: "" }],
    ["an empty jti", { jti: "" }],
    ["a jti holding a line break (it would be every event's lineage parent)", { jti: "f00d\nforged: entry" }],
  ])("is a bad subject token (invalid_request), not a target denied, when it has %s; nothing is issued", async (_, claims) => {
    const r = await exchangeAtGateway(await idp.token(claims));
    expect([r.status, r.body.error, r.body.access_token]).toEqual([400, "invalid_request", undefined]);
    expect(String(r.body.error_description)).toMatch(/^subject_token rejected: /);
    expect(await lastDenial()).toBe("invalid_request");
  });
});

describe("a trusted issuer's token with an exp past every safe integer", () => {
  it("is exchanged for a token of this stack's own lifetime, not refused as expired (the int64 wrapped, or 1e+21 read as 1)", async () => {
    for (const exp of [1e20, 1e22]) {
      const r = await exchangeAtGateway(await idp.token({ exp }));
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const claims = claimsOf(r.body.access_token as string);
      expect(Number(claims.exp) - Number(claims.iat)).toBe(300);
    }
  });

  it("is refused with the exchanger's own reason when its iat is not after 1970, before anything is decided or minted", async () => {
    const r = await exchangeAtGateway(await idp.token({ iat: -5 }));
    expect([r.status, r.body.error, r.body.error_description]).toEqual([400, "invalid_request", "subject_token rejected: iat is not after 1970-01-01"]);
  });
});

describe("a request the exchanger's own checks refuse, made with a token of a provider that introspects", () => {
  it("gets its own error without the token being sent to the provider, not temporarily_unavailable while the provider cannot answer", async () => {
    introspected.reply = () => ({ status: 500, body: "" });
    try {
      const token = await introspected.token();
      const forSvcA = await introspected.token({ may_act: { sub: "svc-a", iss: stack.gatewayUrl } });
      const refusals = {
        // The token's scope is "openid a b".
        "a scope the token does not hold": await exchangeAtGateway(token, { scope: "c" }),
        "an actor_token that is not a token": await exchangeAtGateway(token, { actor_token: "not-a-token", actor_token_type: TOKEN_TYPE_AT }),
        "a caller that is not the party may_act names": await exchangeAtGateway(forSvcA),
      };
      expect(Object.fromEntries(Object.entries(refusals).map(([name, r]) => [name, [r.status, r.body.error]]))).toEqual({
        "a scope the token does not hold": [400, "invalid_scope"],
        "an actor_token that is not a token": [400, "invalid_request"],
        "a caller that is not the party may_act names": [400, "invalid_request"],
      });
      expect([...introspected.callsFor(token), ...introspected.callsFor(forSvcA)]).toEqual([]);
    } finally {
      introspected.reply = undefined;
    }
    // The provider still decides whether a request that passes every local check goes ahead.
    const good = await introspected.token();
    const made = await exchangeAtGateway(good);
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    expect(introspected.callsFor(good)).toHaveLength(1);
  });
});
