/**
 * The dedicated token issuer (OA4MP) example: an admin client starts a flow
 * for a managed client and a user who is not present, with its own signed
 * client_assertion and an unsigned assertion; the managed client then goes
 * on with its own credentials (refresh, exchange, introspection, UserInfo).
 * The admin mints within what it manages now, and its issuance is recorded as
 * its own request, not as the managed client's.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT, UnsecuredJWT, createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from "jose";
import type { CryptoKey } from "jose";
import type { LineageResponse__Output } from "@sts/proto";
import { waitFor } from "@sts/testkit";
import { basicAuth, claimsOf, postForm, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";
import { call, clients } from "./chain.js";

const ADMIN = "admin:test/vo_1";
const MANAGED = "localhost:test/initialize_flow";
const OTHER = "localhost:test/other_admins_client";
/** A client the admin registered when it managed more: archive and delete: have since been taken out of its manages. */
const NARROWED = "localhost:test/narrowed";
const MANAGED_SECRET = "managed-client-secret-0001";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT = "urn:ietf:params:oauth:token-type:access_token";
const SCOPE = "read: write: org.cilogon.userinfo openid profile email";
let stack: Stack;
let adminKey: CryptoKey;
let tokenUrl: string;
const now = (): number => Math.floor(Date.now() / 1000);

const clientAssertion = (): Promise<string> =>
  new SignJWT({ iss: ADMIN, sub: ADMIN, aud: stack.gatewayUrl, jti: randomUUID(), iat: now(), exp: now() + 300 })
    .setProtectedHeader({ alg: "ES256", kid: "admin-key-1" })
    .sign(adminKey);

const unsignedAssertion = (over: Record<string, unknown> = {}): string =>
  new UnsecuredJWT({ iss: MANAGED, sub: "jeff", jti: randomUUID(), iat: now(), exp: now() + 300, nonce: "n-0S6_WzA2Mj", scope: SCOPE, ...over }).encode();

const dti = async (assertion: string, form: Record<string, string> = {}) =>
  postForm(tokenUrl, { grant_type: JWT_BEARER, client_assertion_type: ASSERTION_TYPE, client_assertion: await clientAssertion(), assertion, ...form });

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  adminKey = pair.privateKey;
  const adminJwk = { ...(await exportJWK(pair.publicKey)), kid: "admin-key-1", alg: "ES256", use: "sig" };
  const other = await generateKeyPair("ES256", { extractable: true });
  stack = await startStack({
    // Shorter than the managed client's refresh_token_ttl (11d): a family's lifetime bounds its tokens'.
    tokens: { refresh_family_lifetime: "10d" },
    users: { jeff: { name: "Jeff Gaynor", given_name: "Jeff", email: "jeff@example.org", email_verified: true, isMemberOf: "secret-groups" } },
    policy: { hops: [{ from: MANAGED, to: "data-mover", scopes: ["read:/home/public"], require_caller_in_audience: false }] },
    clients: [
      {
        client_id: ADMIN,
        admin: true,
        token_endpoint_auth_method: "private_key_jwt",
        jwks: { keys: [adminJwk] },
        grant_types: ["client_credentials"],
        audience: ["storage"],
        manages: { audience: ["storage"], scope: ["read:/home", "write:/home", "org.cilogon.userinfo", "openid", "profile", "email"] },
      },
      {
        client_id: "admin:test/vo_2",
        admin: true,
        token_endpoint_auth_method: "private_key_jwt",
        jwks: { keys: [{ ...(await exportJWK(other.publicKey)), kid: "k" }] },
      },
      {
        client_id: MANAGED,
        admin_client_id: ADMIN,
        client_secret: MANAGED_SECRET,
        grant_types: ["refresh_token", EXCHANGE],
        scope: ["read:/home", "write:/home", "org.cilogon.userinfo", "openid", "profile", "email"],
        scope_templates: { "read:": ["read:/home/public/data/cern"], "write:": ["write:/home/{sub}/data"] },
        audience: ["storage"],
        access_token_ttl: "15m",
        refresh_token_ttl: "11d",
      },
      {
        client_id: NARROWED,
        admin_client_id: ADMIN,
        client_secret: MANAGED_SECRET,
        scope: ["read:/home", "delete:/home", "openid"],
        scope_templates: { "read:": ["read:/home/public/data/cern"], "delete:": ["delete:/home/{sub}"] },
        audience: ["storage", "archive"],
      },
      { client_id: OTHER, admin_client_id: "admin:test/vo_2", client_secret: MANAGED_SECRET, scope: ["openid"], audience: ["storage"] },
      { client_id: "plain-client", client_secret: MANAGED_SECRET, grant_types: [JWT_BEARER], scope: ["openid"], audience: ["storage"] },
    ],
  });
  tokenUrl = `${stack.gatewayUrl}/oauth2/token`;
}, 90_000);

afterAll(async () => {
  await stack?.stop();
});

describe("dedicated token issuer: the admin starts the flow", () => {
  it("answers the DTI example with every field, following the managed client's configuration", async () => {
    const r = await dti(unsignedAssertion());
    expect(r.status).toBe(200);
    const response = r.body;
    const expanded = "read:/home/public/data/cern write:/home/jeff/data org.cilogon.userinfo openid profile email";
    expect(Object.keys(response).sort()).toEqual([
      "access_token",
      "expires_in",
      "id_token",
      "refresh_token",
      "refresh_token_iat",
      "refresh_token_lifetime",
      "scope",
      "token_type",
    ]);
    expect(response).toMatchObject({ token_type: "Bearer", expires_in: 900, scope: expanded, refresh_token_lifetime: 10 * 86400 });
    expect(Math.abs((response.refresh_token_iat as number) - now())).toBeLessThan(30);
    expect(response.refresh_token).toMatch(/^str_/);
    const jwks = createRemoteJWKSet(new URL(`${stack.gatewayUrl}/oauth2/jwks`));
    const at = await jwtVerify(response.access_token as string, jwks, { issuer: stack.gatewayUrl, audience: "storage", typ: "at+jwt" });
    expect(at.payload).toMatchObject({ sub: "jeff", client_id: MANAGED, scope: expanded });
    const id = await jwtVerify(response.id_token as string, jwks, { issuer: stack.gatewayUrl, audience: MANAGED });
    expect(id.payload).toMatchObject({ sub: "jeff", nonce: "n-0S6_WzA2Mj" });
    // The user is absent: no authentication happened, so no auth_time (OIDC Core §2).
    expect(id.payload.auth_time).toBeUndefined();
    // Auditors can trace the ID token too: the access token's durable event names it.
    expect(id.payload.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const issued = (await storedEvents(stack.nats.url)).find((e) => e.data.jti === at.payload.jti);
    expect(issued?.type).toBe("token.issued");
    expect(issued?.data.id_token_jti).toBe(id.payload.jti);
    expect(issued?.raw).not.toContain((response.id_token as string).split(".")[2]);
    // Lineage of the ID token's jti answers with the access token it came with.
    const audit = clients(stack.address);
    try {
      const traced = await waitFor(async () => {
        const r = await call<LineageResponse__Output>(audit.audit, "Lineage", { jti: id.payload.jti });
        return r.ok ? r.value : undefined;
      });
      expect(traced.token?.jti).toBe(at.payload.jti);
    } finally {
      audit.close();
    }
  });

  it("lets the managed client refresh, exchange, introspect and call UserInfo with its own credentials", async () => {
    // The admin starts this test's own flow: the managed client goes on from its refresh token.
    const started = await dti(unsignedAssertion());
    expect(started.status).toBe(200);
    expect(started.body.refresh_token).toMatch(/^str_/);
    const own = { authorization: basicAuth(MANAGED, MANAGED_SECRET) };
    const refreshed = await postForm(tokenUrl, { grant_type: "refresh_token", refresh_token: started.body.refresh_token as string }, own);
    expect(refreshed.status).toBe(200);
    expect(claimsOf(refreshed.body.access_token as string)).toMatchObject({ sub: "jeff", client_id: MANAGED });

    const exchanged = await postForm(
      tokenUrl,
      {
        grant_type: EXCHANGE,
        subject_token: refreshed.body.access_token as string,
        subject_token_type: AT,
        audience: "data-mover",
        scope: "read:/home/public/data/cern",
      },
      own,
    );
    expect(exchanged.status).toBe(200);
    expect(claimsOf(exchanged.body.access_token as string)).toMatchObject({
      sub: "jeff",
      aud: "data-mover",
      scope: "read:/home/public/data/cern",
      act: { sub: MANAGED },
    });

    const intro = await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token: refreshed.body.access_token as string }, own);
    expect(intro.body).toMatchObject({ active: true, sub: "jeff", client_id: MANAGED });

    const info = await fetch(`${stack.gatewayUrl}/oauth2/userinfo`, { headers: { authorization: `Bearer ${refreshed.body.access_token as string}` } });
    expect(info.status).toBe(200);
    expect(await info.json()).toEqual({ sub: "jeff", name: "Jeff Gaynor", given_name: "Jeff", email: "jeff@example.org", email_verified: true });
  });

  it("refuses UserInfo without a valid bearer token (RFC 6750)", async () => {
    const r = await fetch(`${stack.gatewayUrl}/oauth2/userinfo`, { headers: { authorization: "Bearer not-a-token" } });
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token"/);
  });

  it("answers a valid token without openid with insufficient_scope (RFC 6750 §3.1)", async () => {
    const r0 = await dti(unsignedAssertion({ scope: "read:" }));
    expect(r0.status).toBe(200);
    const response = r0.body;
    expect(response.scope).not.toContain("openid");
    const r = await fetch(`${stack.gatewayUrl}/oauth2/userinfo`, { headers: { authorization: `Bearer ${response.access_token as string}` } });
    expect([r.status, ((await r.json()) as { error: string }).error]).toEqual([403, "insufficient_scope"]);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer error="insufficient_scope"/);
  });
});

describe("dedicated token issuer: the admin's request, on record", () => {
  it("names the admin and the assertion's jti in token.issued and in the lineage, never the assertion", async () => {
    const jti = randomUUID();
    const assertion = unsignedAssertion({ jti, scope: "read:" });
    const r = await dti(assertion);
    expect(r.status).toBe(200);
    const at = claimsOf(r.body.access_token as string);
    const issued = (await storedEvents(stack.nats.url)).find((e) => e.data.jti === at.jti);
    // The token is the managed client's; the request was its admin's: an auditor tells it from the client's own.
    expect(issued?.type).toBe("token.issued");
    expect(issued?.data).toMatchObject({ client_id: MANAGED, sub: "jeff", grant_type: JWT_BEARER, admin_client_id: ADMIN, assertion_jti: jti });
    expect(issued?.raw).not.toContain(assertion.split(".")[1]);
    const audit = clients(stack.address);
    try {
      const traced = await waitFor(async () => {
        const l = await call<LineageResponse__Output>(audit.audit, "Lineage", { jti: at.jti });
        return l.ok ? l.value : undefined;
      });
      expect(JSON.parse(traced.token?.data_json ?? "{}")).toMatchObject({ admin_client_id: ADMIN, assertion_jti: jti });
    } finally {
      audit.close();
    }
  });
});

describe("dedicated token issuer: within what the admin manages now", () => {
  it("refuses an audience its client has but the admin no longer manages (invalid_target)", async () => {
    const r = await dti(unsignedAssertion({ iss: NARROWED, scope: "openid" }), { audience: "archive" });
    expect([r.status, r.body.error, r.body.error_description]).toEqual([400, "invalid_target", "no requested audience is allowed for this client"]);
    expect(r.body.access_token).toBeUndefined();
    const still = await dti(unsignedAssertion({ iss: NARROWED, scope: "openid" }), { audience: "storage" });
    expect(still.status).toBe(200);
    expect(claimsOf(still.body.access_token as string)).toMatchObject({ aud: "storage", client_id: NARROWED });
  });

  it("leaves out scopes, from a template too, the admin no longer manages, and refuses when nothing is left", async () => {
    const r = await dti(unsignedAssertion({ iss: NARROWED, scope: "read: delete: openid" }));
    expect([r.status, r.body.scope]).toEqual([200, "read:/home/public/data/cern openid"]);
    const none = await dti(unsignedAssertion({ iss: NARROWED, scope: "delete:" }));
    expect([none.status, none.body.error]).toEqual([400, "invalid_scope"]);
  });
});

describe("dedicated token issuer: refusals", () => {
  it("refuses a subject longer than a subject revocation takes (1,024 bytes) with invalid_grant: its tokens could not be revoked", async () => {
    const r = await dti(unsignedAssertion({ sub: "u".repeat(1025), scope: "openid" }));
    expect([r.status, r.body.error, r.body.error_description]).toEqual([400, "invalid_grant", "assertion rejected: sub is longer than 1024 bytes"]);
    expect(r.body.access_token).toBeUndefined();
  });

  it("gives unauthorized_client to an admin asking for a client it does not manage", async () => {
    const r = await dti(unsignedAssertion({ iss: OTHER }));
    expect([r.status, r.body.error]).toEqual([400, "unauthorized_client"]);
  });

  it("gives invalid_grant to an unsigned assertion outside the admin case", async () => {
    const r = await postForm(
      tokenUrl,
      { grant_type: JWT_BEARER, assertion: new UnsecuredJWT({ iss: "plain-client", sub: "jeff", jti: randomUUID(), iat: now(), exp: now() + 60 }).encode() },
      { authorization: basicAuth("plain-client", MANAGED_SECRET) },
    );
    expect([r.status, r.body.error]).toEqual([400, "invalid_grant"]);
  });

  it("refuses a replayed unsigned assertion, and one without jti or too long-lived", async () => {
    const a = unsignedAssertion();
    expect((await dti(a)).status).toBe(200);
    expect((await dti(a)).body.error).toBe("invalid_grant");
    expect((await dti(unsignedAssertion({ jti: undefined }))).body.error).toBe("invalid_grant");
    expect((await dti(unsignedAssertion({ exp: now() + 86400 }))).body.error).toBe("invalid_grant");
  });

  it("refuses an unsigned assertion with a duplicate member with invalid_grant, as signed ones are (RFC 7515 §5.2)", async () => {
    // JSON.parse keeps the last `sub`; another reader of the same assertion may keep the first.
    const b64 = (text: string): string => Buffer.from(text).toString("base64url");
    const payload = `{"iss":${JSON.stringify(MANAGED)},"sub":"jeff","sub":"root","jti":"${randomUUID()}","iat":${now()},"exp":${now() + 300},"scope":"openid"}`;
    const r = await dti(`${b64('{"alg":"none"}')}.${b64(payload)}.`);
    expect([r.status, r.body.error, r.body.error_description]).toEqual([400, "invalid_grant", "assertion rejected: duplicate JSON member"]);
    expect(r.body.access_token).toBeUndefined();
  });

  it("refuses an assertion whose user is a client, the admin included: the token would read as that client's own (RFC 9700 §4.15)", async () => {
    for (const sub of ["plain-client", ADMIN]) {
      const r = await dti(unsignedAssertion({ sub }));
      expect([r.status, r.body.error, r.body.error_description]).toEqual([
        400,
        "invalid_grant",
        "the assertion's subject is another client of this stack, not a user",
      ]);
      expect(r.body.access_token).toBeUndefined();
    }
  });

  it("accepts scope as an array, as OA4MP does", async () => {
    const r = await dti(unsignedAssertion({ scope: ["read:", "openid"] }));
    expect(r.body.scope).toBe("read:/home/public/data/cern openid");
  });
});
