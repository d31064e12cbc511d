/**
 * OpenID Connect Back-Channel Logout from a trusted issuer: when a user signs
 * out at the provider, it posts a logout token to the gateway, and every
 * token this stack made for that user, at every hop, stops working at once.
 * The provider is real (HTTPS on loopback, a throwaway CA the services
 * trust), and so are the stack's processes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata, credentials } from "@grpc/grpc-js";
import { generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EVENT_TYPES } from "@sts/nats";
import { loadExchangeProto } from "@sts/proto";
import { makeTestCa, waitFor } from "@sts/testkit";
import { basicAuth, claimsOf, postForm, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT, call, tokenClient } from "./chain.js";
import { BACKCHANNEL_LOGOUT_EVENT, startIdentityProvider } from "./identity-provider.js";
import type { IdentityProvider } from "./identity-provider.js";

/** Signs users out here by back-channel logout. */
const IDP = "https://idp.test.example/realms/main";
/** Trusted for exchanges, but not configured to sign users out. */
const IDP_NO_LOGOUT = "https://idp-plain.test.example/realms/main";
const ALICE = "5b7f0c6e-alice";
const BOB = "77d1a0f2-bob";
const DAVE = "0c4e19aa-dave";
const CAROL = "c3d94e51-carol";
const ERIN = "e1a2b3c4-erin";

let dir: string;
let stack: Stack;
let idp: IdentityProvider;
let plain: IdentityProvider;
let strangerKey: CryptoKey;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sts-backchannel-logout-"));
  const ca = makeTestCa(dir, "idp-ca");
  [idp, plain] = await Promise.all([
    startIdentityProvider({ issuer: IDP, ca, name: "idp" }),
    startIdentityProvider({ issuer: IDP_NO_LOGOUT, ca, name: "idp-plain" }),
  ]);
  strangerKey = (await generateKeyPair("ES256")).privateKey;
  const keycloak = { typ: ["JWT"], claims: { typ: "Bearer" } };
  stack = await startStack(
    {
      // A revocation runs the clock tolerance ahead: kept small, so that the user coming back is soon newer than it.
      tokens: { clock_tolerance: 1 },
      exchange: {
        trusted_issuers: [
          { issuer: IDP, jwks_uri: idp.jwksUri, ...keycloak, backchannel_logout: { audience: "mesh-sts" } },
          { issuer: IDP_NO_LOGOUT, jwks_uri: plain.jwksUri, ...keycloak },
        ],
      },
      policy: {
        hops: [
          { from: "edge", to: "svc-a", scopes: ["a", "b"] },
          { from: "svc-a", to: "svc-b", scopes: ["b"] },
        ],
      },
      clients: [
        { client_id: "edge", client_secret: SECRET, grant_types: [EXCHANGE_GRANT], audience: [] },
        { client_id: "svc-a", client_secret: SECRET, grant_types: [EXCHANGE_GRANT], audience: [] },
      ],
    },
    { services: ["issuer", "policy", "exchanger", "gateway"], env: { NODE_EXTRA_CA_CERTS: ca.ca_file } },
  );
}, 90_000);

// A test that restarts NATS leaves services reconnecting: the next one starts once every service is ready again.
beforeEach(() => stack.ready(), 30_000);

afterAll(async () => {
  await Promise.all([idp, plain].map((p) => p?.close()));
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const exchange = (caller: string, subject: string, audience: string, scope: string) =>
  postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    { grant_type: EXCHANGE_GRANT, subject_token: subject, subject_token_type: TOKEN_TYPE_AT, audience, scope },
    { authorization: basicAuth(caller, SECRET) },
  );

/** A user's chain: the provider's token → edge's exchange for svc-a → svc-a's exchange for svc-b. */
async function chainOf(provider: IdentityProvider, sub: string, claims: Record<string, unknown> = {}): Promise<{ provider: string; atA: string; atB: string }> {
  const token = await provider.token({ sub, ...claims });
  const a = await exchange("edge", token, "svc-a", "a b");
  expect(a.status, JSON.stringify(a.body)).toBe(200);
  const b = await exchange("svc-a", a.body.access_token as string, "svc-b", "b");
  expect(b.status, JSON.stringify(b.body)).toBe(200);
  return { provider: token, atA: a.body.access_token as string, atB: b.body.access_token as string };
}

const active = async (token: string): Promise<unknown> =>
  (await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token }, { authorization: basicAuth("svc-a", SECRET) })).body.active;

const logout = (logoutToken: string) => postForm(`${stack.gatewayUrl}/oauth2/backchannel-logout`, { logout_token: logoutToken });

const revocationsOf = async (sub: string) =>
  (await storedEvents(stack.nats.url)).filter((e) => e.type === EVENT_TYPES.SUBJECT_REVOKED && e.data.sub === sub && e.data.iss === IDP);

/** Waits until a token issued now is newer than a revocation at `revokedAt` (seconds). */
const after = (revokedAt: number) => waitFor(() => Math.floor(Date.now() / 1000) > revokedAt, { timeoutMs: 10_000, intervalMs: 50 });

describe("a trusted issuer's back-channel logout", () => {
  it("signs the user out of the mesh: every token made for them, at every hop, is refused; others' are not", async () => {
    const alice = await chainOf(idp, ALICE);
    const bob = await chainOf(idp, BOB);
    // Two hops down, the token still names the provider's subject: that is what the logout revokes.
    expect(claimsOf(alice.atB).sub_id).toEqual({ format: "iss_sub", iss: IDP, sub: ALICE });
    const logoutToken = await idp.logoutToken({ sub: ALICE });

    const before = Math.floor(Date.now() / 1000);
    const r = await logout(logoutToken);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.headers.get("cache-control")).toBe("no-store");

    expect([await active(alice.atA), await active(alice.atB)]).toEqual([false, false]);
    const again = await exchange("edge", alice.provider, "svc-a", "a");
    expect([again.status, again.body.error]).toEqual([400, "invalid_request"]);
    const onward = await exchange("svc-a", alice.atA, "svc-b", "b");
    expect([onward.status, onward.body.error]).toEqual([400, "invalid_request"]);
    expect([await active(bob.atA), await active(bob.atB)]).toEqual([true, true]);

    // Recorded as the provider's logout, relayed by the exchanger; never the token.
    const [record, ...more] = await revocationsOf(ALICE);
    expect(more).toEqual([]);
    expect(record?.data).toMatchObject({ iss: IDP, sub: ALICE, client_id: "sts-exchanger" });
    expect(String(record?.data.reason)).toMatch(/back-channel logout/);
    expect(record?.raw).not.toContain(logoutToken);
    // Revoked until the clock tolerance past the logout: a token a slightly fast replica stamped just before is covered.
    const revokedAt = Number(record?.data.revoked_at);
    expect(revokedAt).toBeGreaterThanOrEqual(before + 1);

    // The user may come back: a session started after the revocation works.
    await after(revokedAt);
    const back = await chainOf(idp, ALICE);
    expect(await active(back.atB)).toBe(true);

    // The same logout token again (a provider's retry, or a replay) changes nothing: the new session stays.
    const replay = await logout(logoutToken);
    expect(replay.status).toBe(200);
    expect(await active(back.atB)).toBe(true);
    expect(await revocationsOf(ALICE)).toHaveLength(1);

    // Replayed to another exchanger replica, which never saw it: the revocation on record covers it.
    const replica = await stack.startReplica("exchanger");
    const client = new (loadExchangeProto().sts.exchange.v1.ExchangeService)(replica.address, credentials.createInsecure());
    try {
      const elsewhere = await call(client, "BackchannelLogout", { logout_token: logoutToken });
      expect(elsewhere.ok, elsewhere.ok ? "" : elsewhere.failure.description).toBe(true);
      expect(await active(back.atB)).toBe(true);
      expect(await revocationsOf(ALICE)).toHaveLength(1);
    } finally {
      client.close();
      await replica.handle.stop();
    }
  });

  it("signs out as of the logout token's iat: a logout relayed late leaves alone the session the user began since", async () => {
    const now = Math.floor(Date.now() / 1000);
    // Erin's session before she signed out, the logout the provider issued then, and the session she began after it.
    const signedOut = now - 30;
    const before = await chainOf(idp, ERIN, { iat: now - 60 });
    const since = await chainOf(idp, ERIN, { iat: now - 10 });
    const r = await logout(await idp.logoutToken({ sub: ERIN, iat: signedOut }));
    expect(r.status, JSON.stringify(r.body)).toBe(200);

    await waitFor(async () => (await active(before.atB)) === false, { timeoutMs: 10_000, intervalMs: 50, message: "the earlier session is still active" });
    expect([await active(before.atA), await active(since.atA), await active(since.atB)]).toEqual([false, true, true]);
    const [record] = await revocationsOf(ERIN);
    // The clock tolerance (1 s here) on top, as for a logout applied at once.
    expect(Number(record?.data.revoked_at)).toBe(signedOut + 1);
  });

  it.each<[string, () => Promise<string>]>([
    ["for another audience", () => idp.logoutToken({ sub: BOB, aud: "someone-else" })],
    ["with a nonce (an ID token)", () => idp.logoutToken({ sub: BOB, nonce: "n-0S6_WzA2Mj" })],
    ["without the logout event", () => idp.logoutToken({ sub: BOB, events: undefined })],
    ["with another event only", () => idp.logoutToken({ sub: BOB, events: { "https://example.com/other-event": {} } })],
    ["whose event is not an object", () => idp.logoutToken({ sub: BOB, events: { [BACKCHANNEL_LOGOUT_EVENT]: "yes" } })],
    ["naming a session only (no sub)", () => idp.logoutToken({ sub: undefined })],
    ["typed as an access token", () => idp.logoutToken({ sub: BOB }, { header: { typ: "at+jwt" } })],
    ["that expired", () => idp.logoutToken({ sub: BOB, iat: Math.floor(Date.now() / 1000) - 600, exp: Math.floor(Date.now() / 1000) - 300 })],
    ["without a jti", () => idp.logoutToken({ sub: BOB, jti: undefined })],
    ["without an exp (required since the final spec, §2.4)", () => idp.logoutToken({ sub: BOB, exp: undefined })],
    ["signed by another key under the provider's kid", () => idp.logoutToken({ sub: BOB }, { key: strangerKey })],
    ["from a trusted issuer not configured for logout", () => plain.logoutToken({ sub: BOB })],
    ["that is the provider's access token", () => idp.token({ sub: BOB })],
    ["that is not a JWT", () => Promise.resolve("not-a-jwt")],
    [
      "unsigned (alg none)",
      async () => {
        const [, payload] = (await idp.logoutToken({ sub: BOB })).split(".");
        return `${Buffer.from(JSON.stringify({ alg: "none", typ: "logout+jwt" })).toString("base64url")}.${payload}.`;
      },
    ],
  ])("refuses a logout token %s with invalid_request, and signs nobody out", async (_, make) => {
    const bob = await chainOf(idp, BOB);
    const r = await logout(await make());
    expect([r.status, r.body.error]).toEqual([400, "invalid_request"]);
    expect(await active(bob.atB)).toBe(true);
    expect(await revocationsOf(BOB)).toEqual([]);
  });

  it("is never taken as an access token: a logout token presented for exchange is refused", async () => {
    // Addressed to the exchanging client and typed plain JWT, as older providers type it: still a security event, not a grant.
    const logoutToken = await idp.logoutToken({ sub: BOB, aud: "edge", typ: "Bearer", scope: "a b", azp: "web-app" }, { header: { typ: "JWT" } });
    const r = await exchange("edge", logoutToken, "svc-a", "a");
    expect([r.status, r.body.error]).toEqual([400, "invalid_request"]);
    expect(r.body.error_description).toMatch(/security event token/);
  });

  it("refuses a request without logout_token", async () => {
    const r = await postForm(`${stack.gatewayUrl}/oauth2/backchannel-logout`, {});
    expect([r.status, r.body.error]).toEqual([400, "invalid_request"]);
  });
});

describe("a revocation made by an issuer replica whose clock is behind", () => {
  it("covers the tokens another replica stamped just before it: revoked_at runs the clock tolerance ahead", async () => {
    const behind = await stack.startReplica("issuer", { STS_CLOCK_OFFSET: "-1" });
    const client = tokenClient(behind.address);
    const internal = new Metadata();
    internal.set("authorization", basicAuth("sts-exchanger", stack.secrets.exchanger));
    try {
      // Stamped by the main replica, whose clock reads a second later than the revoking one's.
      const carol = await chainOf(idp, CAROL);
      const r = await call<{ revoked_at: string }>(client, "RevokeSubject", { iss: IDP, sub: CAROL }, internal);
      if (!r.ok) throw new Error(`RevokeSubject: ${r.failure.description}`);
      expect(claimsOf(carol.atB).iat).toBeLessThanOrEqual(Number(r.value.revoked_at));
      await waitFor(async () => (await active(carol.atB)) === false, { timeoutMs: 10_000, intervalMs: 50, message: "the token is still active" });
      expect(await active(carol.atA)).toBe(false);
    } finally {
      client.close();
      await behind.handle.stop();
    }
  }, 60_000);
});

describe("a verified logout the stack cannot apply at once", () => {
  it("is answered 503 while NATS is away, and applied once it is back: the user does not stay signed in", async () => {
    const dave = await chainOf(idp, DAVE);
    const logoutToken = await idp.logoutToken({ sub: DAVE });
    await stack.nats.kill("SIGKILL");
    try {
      const r = await logout(logoutToken);
      expect([r.status, r.body.error]).toEqual([503, "temporarily_unavailable"]);
    } finally {
      await stack.nats.restart();
    }
    // Nobody posts it again (Keycloak would not): the exchanger's own retry applies it.
    await waitFor(async () => (await active(dave.atB).catch(() => true)) === false, {
      timeoutMs: 40_000,
      intervalMs: 250,
      message: "the logout was never applied",
    });
    expect(await active(dave.atA)).toBe(false);
    expect(await revocationsOf(DAVE)).toHaveLength(1);
  }, 90_000);
});

describe("the issuer's RevokeSubject for an internal caller", () => {
  it("revokes only subjects of trusted issuers configured for back-channel logout, never one of this stack's own", async () => {
    const client = tokenClient(stack.address.issuer);
    const internal = new Metadata();
    internal.set("authorization", basicAuth("sts-exchanger", stack.secrets.exchanger));
    try {
      const own = await call(client, "RevokeSubject", { iss: stack.gatewayUrl, sub: "edge" }, internal);
      expect(own.ok ? "revoked" : own.failure.error).toBe("unauthorized_client");
      // A trusted issuer without backchannel_logout has no logouts to relay.
      const other = await call(client, "RevokeSubject", { iss: IDP_NO_LOGOUT, sub: "carol" }, internal);
      expect(other.ok ? "revoked" : other.failure.error).toBe("unauthorized_client");
      // Someone with a client secret that is not internal is no relay.
      const outsider = new Metadata();
      outsider.set("authorization", basicAuth("edge", SECRET));
      const refused = await call(client, "RevokeSubject", { iss: IDP, sub: "carol" }, outsider);
      expect(refused.ok ? "revoked" : refused.failure.error).toBe("unauthorized_client");
      const events = await storedEvents(stack.nats.url);
      expect(events.filter((e) => e.type === EVENT_TYPES.SUBJECT_REVOKED && (e.data.sub === "edge" || e.data.sub === "carol"))).toEqual([]);
    } finally {
      client.close();
    }
  });
});
