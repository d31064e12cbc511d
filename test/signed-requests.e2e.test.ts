/**
 * RFC 7523 signed requests: private_key_jwt client authentication (§2.2) and
 * the jwt-bearer grant (§2.1), each bad assertion with its positional error
 * (invalid_client for client_assertion, invalid_grant for assertion) and
 * nothing issued. A refused client assertion tells no more about which
 * clients exist, or how they authenticate, than a wrong secret does.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey, JWK } from "jose";
import { basicAuth, claimsOf, postForm, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";

const CLIENT_ID = "admin:test/vo_1";
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const PORTAL_SECRET = "portal-secret-0000000000001";
/** A client whose access tokens live one second, to revoke one just past its exp. */
const SHORT_LIVED = { id: "short-lived", secret: "short-lived-secret-000000001" };
let stack: Stack;
let key: CryptoKey;
let publicJwk: JWK;
let tokenUrl: string;
/** The issuer identifier: the only `aud` an assertion may name by default (draft-ietf-oauth-rfc7523bis). */
let issuerId: string;

const now = (): number => Math.floor(Date.now() / 1000);

async function sign(claims: Record<string, unknown>, header: Record<string, unknown> = {}, signingKey: CryptoKey = key): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "k1", ...header }).sign(signingKey);
}

const clientClaims = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: CLIENT_ID,
  sub: CLIENT_ID,
  aud: issuerId,
  iat: now(),
  exp: now() + 60,
  jti: randomUUID(),
  ...over,
});

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" };
  const second = await generateKeyPair("ES256", { extractable: true });
  stack = await startStack(
    {
      clients: [
        {
          client_id: CLIENT_ID,
          token_endpoint_auth_method: "private_key_jwt",
          jwks: { keys: [publicJwk, { ...(await exportJWK(second.publicKey)), kid: "k2", alg: "ES256" }] },
          grant_types: ["client_credentials", JWT_BEARER, "refresh_token", EXCHANGE],
          refresh_token_ttl: "1h",
          scope: ["read", "write:/home"],
          audience: ["storage"],
        },
        { client_id: "portal", client_secret: PORTAL_SECRET, scope: ["read"], audience: [CLIENT_ID] },
        {
          client_id: SHORT_LIVED.id,
          client_secret: SHORT_LIVED.secret,
          jwks: { keys: [publicJwk] },
          grant_types: [JWT_BEARER, "refresh_token"],
          access_token_ttl: 1,
          scope: ["read"],
          audience: ["storage"],
        },
      ],
      policy: { hops: [{ from: CLIENT_ID, to: "storage", scopes: ["read"] }] },
    },
    { services: ["issuer", "gateway", "policy", "exchanger"] },
  );
  tokenUrl = `${stack.gatewayUrl}/oauth2/token`;
  issuerId = stack.gatewayUrl;
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const withAssertion = (assertion: string, form: Record<string, string> = { grant_type: "client_credentials", scope: "read" }) =>
  postForm(tokenUrl, { ...form, client_assertion_type: ASSERTION_TYPE, client_assertion: assertion });

describe("private_key_jwt (RFC 7523 §2.2)", () => {
  it("authenticates a client with a signed assertion", async () => {
    const r = await withAssertion(await sign(clientClaims()));
    expect(r.status).toBe(200);
    expect(claimsOf(r.body.access_token as string)).toMatchObject({ sub: CLIENT_ID, client_id: CLIENT_ID, aud: "storage" });
  });

  it("accepts an assertion without iat (RFC 7523 §3: iat MAY be present)", async () => {
    const r = await withAssertion(await sign(clientClaims({ iat: undefined })));
    expect([r.status, r.body.error]).toEqual([200, undefined]);
  });

  it("refuses a replayed assertion (same jti) with invalid_client", async () => {
    const a = await sign(clientClaims());
    expect((await withAssertion(a)).status).toBe(200);
    const again = await withAssertion(a);
    expect([again.status, again.body.error]).toEqual([401, "invalid_client"]);
  });

  it.each([
    ["wrong aud", () => sign(clientClaims({ aud: "https://elsewhere.example/token" }))],
    // RFC 7523 §3 allowed it; rfc7523bis takes the issuer identifier alone, unless tokens.assertion_audience says otherwise.
    ["the token endpoint URL as aud", () => sign(clientClaims({ aud: tokenUrl }))],
    // Audience injection (OpenID Foundation, January 2025; draft-ietf-oauth-rfc7523bis): aud must be one value.
    ["an aud array naming another server too", () => sign(clientClaims({ aud: [issuerId, "https://elsewhere.example/token"] }))],
    ["an aud array of two of our own identifiers", () => sign(clientClaims({ aud: [stack.gatewayUrl, tokenUrl] }))],
    ["iat in the future", () => sign(clientClaims({ iat: now() + 300 }))],
    ["expired", () => sign(clientClaims({ exp: now() - 120, iat: now() - 200 }))],
    ["exp far in the future", () => sign(clientClaims({ exp: now() + 3600 }))],
    ["iss ≠ sub", () => sign(clientClaims({ sub: "someone-else" }))],
    ["a key not registered", async () => sign(clientClaims(), {}, (await generateKeyPair("ES256")).privateKey)],
    ["no kid with several keys", async () => new SignJWT(clientClaims()).setProtectedHeader({ alg: "ES256" }).sign(key)],
    [
      "alg none",
      async () => `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${Buffer.from(JSON.stringify(clientClaims())).toString("base64url")}.`,
    ],
    ["no jti", () => sign(clientClaims({ jti: undefined }))],
    // RFC 8725 §3.11: an explicitly typed JWT of another kind (here an access token's typ) is not a client assertion.
    ["typ at+jwt", () => sign(clientClaims(), { typ: "at+jwt" })],
  ])("refuses %s with invalid_client and issues nothing", async (_name, make) => {
    const r = await withAssertion(await make());
    expect(r.status).toBe(401);
    expect(r.body.error).toBe("invalid_client");
    expect(r.body.access_token).toBeUndefined();
  });

  it("answers an unknown client, a client without keys, a bad signature and a missing kid as a wrong secret: no client enumeration", async () => {
    const wrongSecret = await postForm(tokenUrl, { grant_type: "client_credentials" }, { authorization: basicAuth("portal", "not-the-secret-000000001") });
    expect([wrongSecret.status, wrongSecret.body.error, wrongSecret.body.error_description]).toEqual([401, "invalid_client", "client authentication failed"]);
    const stranger = (await generateKeyPair("ES256")).privateKey;
    const refusals = [
      await sign(clientClaims({ iss: "nobody", sub: "nobody" })),
      // A client of another method, with no keys: its method is no more to be learnt than its existence.
      await sign(clientClaims({ iss: "portal", sub: "portal" })),
      await sign(clientClaims(), {}, stranger),
      await new SignJWT(clientClaims()).setProtectedHeader({ alg: "ES256" }).sign(key),
    ];
    for (const assertion of refusals) {
      const r = await withAssertion(assertion);
      expect([r.status, r.body.error, r.body.error_description]).toEqual([401, "invalid_client", "client authentication failed"]);
    }
  });

  it("accepts the explicit typ of a client authentication JWT (draft-ietf-oauth-rfc7523bis)", async () => {
    expect((await withAssertion(await sign(clientClaims({ aud: stack.gatewayUrl }), { typ: "client-authentication+jwt" }))).status).toBe(200);
  });

  it("a jti refused for a bad signature is not burnt", async () => {
    const jti = randomUUID();
    const forged = await sign(clientClaims({ jti }), {}, (await generateKeyPair("ES256")).privateKey);
    expect((await withAssertion(forged)).status).toBe(401);
    expect((await withAssertion(await sign(clientClaims({ jti })))).status).toBe(200);
  });
});

describe("jwt-bearer grant (RFC 7523 §2.1)", () => {
  it("issues a token for the user named in sub", async () => {
    const assertion = await sign({ iss: CLIENT_ID, sub: "jeff", aud: issuerId, iat: now(), exp: now() + 60, jti: randomUUID() });
    const r = await withAssertion(await sign(clientClaims()), { grant_type: JWT_BEARER, assertion, scope: "read write:/home/jeff" });
    expect(r.status).toBe(200);
    expect(claimsOf(r.body.access_token as string)).toMatchObject({ sub: "jeff", client_id: CLIENT_ID, scope: "read write:/home/jeff" });
  });

  it("records the assertion's jti in token.issued, and no admin: the client asked for itself", async () => {
    const jti = randomUUID();
    const assertion = await sign({ iss: CLIENT_ID, sub: "jeff", aud: issuerId, iat: now(), exp: now() + 60, jti });
    const r = await withAssertion(await sign(clientClaims()), { grant_type: JWT_BEARER, assertion, scope: "read" });
    expect(r.status).toBe(200);
    const issued = (await storedEvents(stack.nats.url)).find((e) => e.data.jti === claimsOf(r.body.access_token as string).jti);
    expect(issued?.data).toMatchObject({ client_id: CLIENT_ID, sub: "jeff", grant_type: JWT_BEARER, assertion_jti: jti });
    expect(issued?.data.admin_client_id).toBeUndefined();
    expect(issued?.raw).not.toContain(assertion.split(".")[2]);
  });

  it("refuses a subject longer than a subject revocation takes (1,024 bytes) with invalid_grant: its tokens could not be revoked", async () => {
    const assertion = await sign({ iss: CLIENT_ID, sub: "u".repeat(1025), aud: issuerId, iat: now(), exp: now() + 60, jti: randomUUID() });
    const r = await withAssertion(await sign(clientClaims()), { grant_type: JWT_BEARER, assertion, scope: "read" });
    expect([r.status, r.body.error, r.body.error_description]).toEqual([400, "invalid_grant", "assertion rejected: sub is longer than 1024 bytes"]);
    expect(r.body.access_token).toBeUndefined();
  });

  it.each([
    ["expired", () => ({ exp: now() - 120, iat: now() - 200 })],
    ["for another issuer", () => ({ iss: "someone-else" })],
    ["with a wrong aud", () => ({ aud: "https://elsewhere.example" })],
    ["with the token endpoint URL as aud", () => ({ aud: tokenUrl })],
  ])("refuses an assertion %s with invalid_grant", async (_name, over) => {
    const assertion = await sign({ iss: CLIENT_ID, sub: "jeff", aud: issuerId, iat: now(), exp: now() + 60, jti: randomUUID(), ...over() });
    const r = await withAssertion(await sign(clientClaims()), { grant_type: JWT_BEARER, assertion });
    expect([r.status, r.body.error]).toEqual([400, "invalid_grant"]);
  });

  it("refuses an assertion whose aud names this server and another with invalid_grant (audience injection)", async () => {
    const assertion = await sign({ iss: CLIENT_ID, sub: "jeff", aud: [issuerId, "https://elsewhere.example"], iat: now(), exp: now() + 60, jti: randomUUID() });
    const r = await withAssertion(await sign(clientClaims()), { grant_type: JWT_BEARER, assertion });
    expect([r.status, r.body.error]).toEqual([400, "invalid_grant"]);
  });

  it("refuses an unsigned assertion with invalid_grant", async () => {
    const assertion = `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${Buffer.from(JSON.stringify({ iss: CLIENT_ID, sub: "jeff", aud: issuerId, exp: now() + 60, jti: randomUUID() })).toString("base64url")}.`;
    const r = await withAssertion(await sign(clientClaims()), { grant_type: JWT_BEARER, assertion });
    expect([r.status, r.body.error]).toEqual([400, "invalid_grant"]);
  });
});

describe("token exchange by a private_key_jwt client (RFC 8693 with RFC 7523 §2.2)", () => {
  const subjectToken = async (): Promise<string> => {
    const r = await postForm(tokenUrl, { grant_type: "client_credentials", scope: "read" }, { authorization: basicAuth("portal", PORTAL_SECRET) });
    expect(r.status).toBe(200);
    return r.body.access_token as string;
  };
  const exchange = (subject: string, assertion: string) =>
    withAssertion(assertion, {
      grant_type: EXCHANGE,
      subject_token: subject,
      subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
      audience: "storage",
      scope: "read",
    });

  it("exchanges with a signed assertion, as at the token endpoint", async () => {
    const r = await exchange(await subjectToken(), await sign(clientClaims()));
    expect(r.status).toBe(200);
    expect(claimsOf(r.body.access_token as string)).toMatchObject({ sub: "portal", aud: "storage", scope: "read", act: { sub: CLIENT_ID } });
  });

  it("refuses a replayed or wrongly signed assertion with invalid_client, and exchanges nothing", async () => {
    const subject = await subjectToken();
    const once = await sign(clientClaims());
    expect((await exchange(subject, once)).status).toBe(200);
    const replay = await exchange(subject, once);
    expect([replay.status, replay.body.error]).toEqual([401, "invalid_client"]);
    const stranger = await generateKeyPair("ES256");
    const forged = await exchange(subject, await sign(clientClaims(), {}, stranger.privateKey));
    expect([forged.status, forged.body.error]).toEqual([401, "invalid_client"]);
  });
});

describe("refresh tokens (RFC 6749 §6) with rotation and reuse detection", () => {
  const userToken = async (): Promise<Record<string, unknown>> => {
    const assertion = await sign({ iss: CLIENT_ID, sub: "jeff", aud: issuerId, iat: now(), exp: now() + 60, jti: randomUUID() });
    const r = await withAssertion(await sign(clientClaims()), { grant_type: JWT_BEARER, assertion, scope: "read write:/home/jeff" });
    expect(r.status).toBe(200);
    return r.body;
  };
  const refresh = async (rt: string, scope?: string) =>
    withAssertion(await sign(clientClaims()), { grant_type: "refresh_token", refresh_token: rt, ...(scope && { scope }) });

  it("returns a refresh token with its lifetime, and rotates it on use", async () => {
    const first = await userToken();
    expect(first.refresh_token).toMatch(/^str_/);
    expect(first.refresh_token_lifetime).toBe(3600);
    expect(typeof first.refresh_token_iat).toBe("number");
    const r = await refresh(first.refresh_token as string, "read");
    expect(r.status).toBe(200);
    expect(r.body.refresh_token).not.toBe(first.refresh_token);
    expect(claimsOf(r.body.access_token as string)).toMatchObject({ sub: "jeff", client_id: CLIENT_ID, scope: "read" });
  });

  it("names the refresh token family in the events of the access tokens issued with it, never the refresh token", async () => {
    const first = await userToken();
    const second = await refresh(first.refresh_token as string);
    expect(second.status).toBe(200);
    const events = await storedEvents(stack.nats.url);
    const of = (token: unknown) => events.find((e) => e.data.jti === claimsOf(token as string).jti);
    const issued = of(first.access_token);
    const refreshed = of(second.body.access_token);
    expect(issued?.type).toMatch(/token\.issued$/);
    expect(refreshed?.type).toMatch(/token\.refreshed$/);
    expect(issued?.data.refresh_family).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(refreshed?.data).toMatchObject({ refresh_family: issued?.data.refresh_family, parent_jti: issued?.data.jti });
    for (const rt of [first.refresh_token, second.body.refresh_token]) expect(events.some((e) => e.raw.includes(rt as string))).toBe(false);
  });

  it("revokes with its family an access token just past its exp, which verifiers still accept for clock_tolerance", async () => {
    const auth = { authorization: basicAuth(SHORT_LIVED.id, SHORT_LIVED.secret) };
    const assertion = await sign({ iss: SHORT_LIVED.id, sub: "jeff", aud: issuerId, iat: now(), exp: now() + 60, jti: randomUUID() });
    const r = await postForm(tokenUrl, { grant_type: JWT_BEARER, assertion, scope: "read" }, auth);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const access = claimsOf(r.body.access_token as string) as { jti: string; exp: number };
    // Past exp by a second: a verifier with the default 30 s of tolerance still takes the token.
    await new Promise((resolve) => setTimeout(resolve, (access.exp + 1) * 1000 - Date.now()));
    const revoke = await postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token: r.body.refresh_token as string, token_type_hint: "refresh_token" }, auth);
    expect(revoke.status).toBe(200);
    const events = await storedEvents(stack.nats.url);
    expect(events.some((e) => e.type.endsWith("token.revoked") && e.data.jti === access.jti)).toBe(true);
  });

  it("records a token revoked by itself and then with its refresh family once for each, however often either is retried", async () => {
    const auth = { authorization: basicAuth(SHORT_LIVED.id, SHORT_LIVED.secret) };
    const assertion = await sign({ iss: SHORT_LIVED.id, sub: "jeff", aud: issuerId, iat: now(), exp: now() + 60, jti: randomUUID() });
    const r = await postForm(tokenUrl, { grant_type: JWT_BEARER, assertion, scope: "read" }, auth);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const jti = claimsOf(r.body.access_token as string).jti;
    const revoke = (token: string) => postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token }, auth);
    for (const token of [r.body.access_token, r.body.access_token, r.body.refresh_token, r.body.refresh_token] as string[]) {
      expect((await revoke(token)).status).toBe(200);
    }
    const revoked = (await storedEvents(stack.nats.url)).filter((e) => e.type.endsWith("token.revoked") && e.data.jti === jti);
    // One for the token itself, one naming the family; the same time and revoker (the token's record, written once).
    expect(revoked.map((e) => e.data.refresh_family === undefined)).toEqual([true, false]);
    expect(new Set(revoked.map((e) => (JSON.parse(e.raw) as { time: string }).time)).size).toBe(1);
  });

  it("kills the whole family when a spent refresh token is presented again", async () => {
    const first = await userToken();
    const second = await refresh(first.refresh_token as string);
    expect(second.status).toBe(200);
    const reuse = await refresh(first.refresh_token as string);
    expect([reuse.status, reuse.body.error]).toEqual([400, "invalid_grant"]);
    const newest = await refresh(second.body.refresh_token as string);
    expect([newest.status, newest.body.error]).toEqual([400, "invalid_grant"]);
  });

  it("revokes a refresh token (RFC 7009 §2): its family and the access token issued with it stop working", async () => {
    const first = await userToken();
    const second = await refresh(first.refresh_token as string);
    expect(second.status).toBe(200);
    const revokeUrl = `${stack.gatewayUrl}/oauth2/revoke`;
    const revoke = await postForm(revokeUrl, {
      token: second.body.refresh_token as string,
      token_type_hint: "refresh_token",
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await sign(clientClaims()),
    });
    expect(revoke.status).toBe(200);
    const after = await refresh(second.body.refresh_token as string);
    expect([after.status, after.body.error]).toEqual([400, "invalid_grant"]);
    const introspect = await postForm(`${stack.gatewayUrl}/oauth2/introspect`, {
      token: second.body.access_token as string,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await sign(clientClaims()),
    });
    expect(introspect.body).toEqual({ active: false });
  });

  it("introspects a refresh token for its own client: active while it is the live one (RFC 7662)", async () => {
    const first = await userToken();
    const introspect = async (token: string) =>
      (
        await postForm(`${stack.gatewayUrl}/oauth2/introspect`, {
          token,
          token_type_hint: "refresh_token",
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await sign(clientClaims()),
        })
      ).body;
    expect(await introspect(first.refresh_token as string)).toMatchObject({
      active: true,
      token_type: "refresh_token",
      sub: "jeff",
      client_id: CLIENT_ID,
      scope: "read write:/home/jeff",
    });
    const second = await refresh(first.refresh_token as string);
    expect(second.status).toBe(200);
    expect(await introspect(first.refresh_token as string)).toEqual({ active: false });
    expect(await introspect(second.body.refresh_token as string)).toMatchObject({ active: true });
    // Another client learns nothing about it.
    const other = await postForm(
      `${stack.gatewayUrl}/oauth2/introspect`,
      { token: second.body.refresh_token as string },
      { authorization: basicAuth("portal", PORTAL_SECRET) },
    );
    expect(other.body).toEqual({ active: false });
  });

  it("leaves the family revoked when two requests race with the same refresh token", async () => {
    const first = await userToken();
    const raced = await Promise.all([refresh(first.refresh_token as string), refresh(first.refresh_token as string)]);
    // At most one of them may win; whatever it got is dead, since the other one was a reuse.
    expect(raced.filter((r) => r.status === 200).length).toBeLessThanOrEqual(1);
    for (const r of raced) if (r.status !== 200) expect(r.body.error).toBe("invalid_grant");
    for (const r of raced.filter((x) => x.status === 200)) {
      const next = await refresh(r.body.refresh_token as string);
      expect([next.status, next.body.error]).toEqual([400, "invalid_grant"]);
    }
  });

  it("refuses a wider scope than the refresh token carries, and garbage", async () => {
    const first = await userToken();
    expect((await refresh(first.refresh_token as string, "admin")).body.error).toBe("invalid_scope");
    expect((await refresh("str_not-a-real-token")).body.error).toBe("invalid_grant");
  });
});

describe("tokens.assertion_audience: issuer_or_token_endpoint (clients configured before draft-ietf-oauth-rfc7523bis)", () => {
  let legacy: Stack;
  let legacyTokenUrl: string;

  beforeAll(async () => {
    legacy = await startStack(
      {
        tokens: { assertion_audience: "issuer_or_token_endpoint" },
        clients: [
          {
            client_id: CLIENT_ID,
            token_endpoint_auth_method: "private_key_jwt",
            jwks: { keys: [publicJwk] },
            grant_types: ["client_credentials", JWT_BEARER],
            scope: ["read"],
            audience: ["storage"],
          },
        ],
      },
      { services: ["issuer", "gateway"] },
    );
    legacyTokenUrl = `${legacy.gatewayUrl}/oauth2/token`;
  }, 60_000);

  afterAll(async () => {
    await legacy?.stop();
  });

  const post = (form: Record<string, string>) => postForm(legacyTokenUrl, { scope: "read", ...form });

  it("takes the token endpoint URL (RFC 7523 §3) or the issuer identifier as the sole aud, for client authentication and the grant", async () => {
    for (const aud of [legacyTokenUrl, legacy.gatewayUrl]) {
      const client_assertion = await sign({ ...clientClaims(), aud });
      const assertion = await sign({ iss: CLIENT_ID, sub: "jeff", aud, iat: now(), exp: now() + 60, jti: randomUUID() });
      const auth = { client_assertion_type: ASSERTION_TYPE, client_assertion };
      expect((await post({ grant_type: "client_credentials", ...auth })).status).toBe(200);
      const granted = await post({ grant_type: JWT_BEARER, assertion, ...auth, client_assertion: await sign({ ...clientClaims(), aud }) });
      expect([granted.status, claimsOf(granted.body.access_token as string).sub]).toEqual([200, "jeff"]);
    }
  });

  it("still refuses both together in one aud (audience injection)", async () => {
    const r = await post({
      grant_type: "client_credentials",
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await sign({ ...clientClaims(), aud: [legacyTokenUrl, legacy.gatewayUrl] }),
    });
    expect([r.status, r.body.error]).toEqual([401, "invalid_client"]);
  });
});
