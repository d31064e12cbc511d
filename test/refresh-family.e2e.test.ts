/**
 * The audit trail of refresh token families: every revocation of a family (by
 * its client, RFC 7009; on replay of a spent token, RFC 9700 §4.14.2; refused
 * because its subject was revoked) stores a `refresh_family.revoked` event
 * before the answer that reports it, under an id made from the stored
 * revocation, so that a request refused while JetStream would not take it is
 * completed by its retry with that same event. A replay also revokes the
 * family's newest access token. A token presented by another client is
 * answered as an unknown one. Real nats-server, issuer (and a replica with its
 * clock ahead), gateway and audit processes.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import { EVENT_TYPES, recordEventId } from "@sts/nats";
import type { IntrospectResponse__Output, QueryResponse__Output, RevokeSubjectResponse__Output, TokenServiceClient } from "@sts/proto";
import { waitFor } from "@sts/testkit";
import { basicAuth, claimsOf, clientCredentialsToken, leakedTokens, postForm, startStack, storedEvents, whileEventsRefused } from "./harness.js";
import type { Stack, StoredEvent } from "./harness.js";
import { bearer, call, clients, tokenClient } from "./chain.js";

const ADMIN = "admin:test/vo_1";
const MANAGED = "batch-workload";
const OTHER = "batch-other";
const OPERATOR = "ops-revoker";
const SECRET = "refresh-family-secret-0000001";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** Seconds the replica's clock runs ahead: past the access tokens' lifetime and the clock tolerance, within the refresh tokens'. */
const AHEAD = 600;

let stack: Stack;
let adminKey: CryptoKey;
let grpc: ReturnType<typeof clients>;
/** An issuer replica whose clock is AHEAD seconds on: to it, every access token issued here has long expired. */
let later: TokenServiceClient;
/** Every token this file obtained: none may appear in a stored event. */
const obtained: string[] = [];
const now = (): number => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  adminKey = pair.privateKey;
  const managed = { admin_client_id: ADMIN, client_secret: SECRET, grant_types: ["refresh_token"], scope: ["read"], audience: ["storage"] };
  stack = await startStack(
    {
      clients: [
        {
          client_id: ADMIN,
          admin: true,
          token_endpoint_auth_method: "private_key_jwt",
          jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "admin-key", alg: "ES256" }] },
          grant_types: ["client_credentials"],
          audience: ["storage"],
          manages: { audience: ["storage"], scope: ["read"] },
        },
        { client_id: MANAGED, ...managed, access_token_ttl: 60, refresh_token_ttl: 3600 },
        { client_id: OTHER, ...managed },
        { client_id: OPERATOR, client_secret: SECRET, scope: ["subjects:revoke"], audience: ["sts-issuer-admin"] },
      ],
    },
    { services: ["issuer", "gateway", "audit"] },
  );
  grpc = clients(stack.address);
  later = tokenClient((await stack.startReplica("issuer", { STS_CLOCK_OFFSET: String(AHEAD) })).address);
}, 90_000);

afterAll(async () => {
  later?.close();
  grpc?.close();
  await stack?.stop();
});

const remember = (token: string): string => (obtained.push(token), token);

/** A user id of this test's own, so that no test depends on another's revocations. */
const user = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;

const jtiOf = (token: string): string => claimsOf(token).jti as string;

/** The dedicated token issuer starts a family for MANAGED and `sub`: its access and refresh tokens, and the family's id. */
async function startFamily(sub: string): Promise<{ access: string; refresh: string; family: string }> {
  const clientAssertion = await new SignJWT({ iss: ADMIN, sub: ADMIN, aud: stack.gatewayUrl, jti: randomUUID(), iat: now(), exp: now() + 60 })
    .setProtectedHeader({ alg: "ES256", kid: "admin-key" })
    .sign(adminKey);
  const assertion = new UnsecuredJWT({ iss: MANAGED, sub, jti: randomUUID(), iat: now(), exp: now() + 60, scope: "read" }).encode();
  const r = await postForm(`${stack.gatewayUrl}/oauth2/token`, {
    grant_type: JWT_BEARER,
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: clientAssertion,
    assertion,
  });
  if (r.status !== 200) throw new Error(`DTI for ${sub}: ${r.status} ${JSON.stringify(r.body)}`);
  const access = remember(r.body.access_token as string);
  const issued = (await storedEvents(stack.nats.url)).find((e) => e.type === EVENT_TYPES.TOKEN_ISSUED && e.data.jti === jtiOf(access));
  return { access, refresh: remember(r.body.refresh_token as string), family: issued?.data.refresh_family as string };
}

/** The refresh_token grant at the gateway, as `client`. */
async function refresh(token: string, client = MANAGED) {
  const r = await postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    { grant_type: "refresh_token", refresh_token: token },
    { authorization: basicAuth(client, SECRET) },
  );
  if (r.status === 200) for (const t of [r.body.access_token, r.body.refresh_token]) remember(t as string);
  return r;
}

/** RFC 7009 revocation of a token of MANAGED, on an issuer replica (gRPC). */
const revoke = (token: string, on: TokenServiceClient) =>
  call<object>(on, "Revoke", { client: { authorization: basicAuth(MANAGED, SECRET) }, token, token_type_hint: "refresh_token" });

/** Whether the issuer holds an access token of MANAGED active (RFC 7662, asked as its own client). */
async function active(token: string): Promise<boolean> {
  const r = await call<IntrospectResponse__Output>(grpc.token, "Introspect", { client: { authorization: basicAuth(MANAGED, SECRET) }, token });
  if (!r.ok) throw new Error(`introspection failed: ${r.failure.description}`);
  return r.value.active;
}

/** A stored event with its CloudEvents id. */
type Stored = StoredEvent & { id: string };

/** The stored events of `type` whose data names `family` (as refresh_family), oldest first. */
async function eventsOf(type: string, family: string): Promise<Stored[]> {
  const events = await storedEvents(stack.nats.url);
  return events.filter((e) => e.type === type && e.data.refresh_family === family).map((e) => ({ ...e, id: (JSON.parse(e.raw) as { id: string }).id }));
}

/** The family's one `refresh_family.revoked` event; fails when there is none or more than one. */
async function familyRevoked(family: string): Promise<Stored> {
  const events = await eventsOf(EVENT_TYPES.REFRESH_FAMILY_REVOKED, family);
  expect(events).toHaveLength(1);
  const event = events[0] as Stored;
  // Its id is made from the revocation stored with the family: a retry publishes the very same id.
  const { revoked_at, reason, revoked_by } = event.data;
  expect(event.id).toBe(recordEventId(EVENT_TYPES.REFRESH_FAMILY_REVOKED, [family, revoked_at, reason, revoked_by]));
  return event;
}

describe("a spent refresh token presented again (RFC 9700 §4.14.2)", () => {
  it("records the family's revocation with who presented it and which token, and revokes the newest access token too", async () => {
    const sub = user("alice");
    const first = await startFamily(sub);
    const second = await refresh(first.refresh);
    expect(second.status).toBe(200);
    const newest = second.body.access_token as string;
    expect(await active(newest)).toBe(true);

    const replay = await refresh(first.refresh);
    expect([replay.status, replay.body.error]).toEqual([400, "invalid_grant"]);
    // The legitimate client's (or the thief's) newest access token dies with the family.
    expect(await active(newest)).toBe(false);

    const event = await familyRevoked(first.family);
    expect(event.data).toEqual({
      refresh_family: first.family,
      client_id: MANAGED,
      sub,
      reason: "reuse",
      revoked_by: MANAGED,
      revoked_at: expect.any(Number) as number,
      presented_access_jti: jtiOf(first.access),
      access_jtis: [jtiOf(first.access), jtiOf(newest)],
    });
    // Each access token revoked with it has its own event.
    const revoked = await eventsOf(EVENT_TYPES.TOKEN_REVOKED, first.family);
    expect(revoked.map((e) => [e.data.jti, e.data.revoked_by])).toEqual([
      [jtiOf(first.access), "family"],
      [jtiOf(newest), "family"],
    ]);
    const newestRefresh = await refresh(second.body.refresh_token as string);
    expect([newestRefresh.status, newestRefresh.body.error]).toEqual([400, "invalid_grant"]);
  });

  it("revokes the access tokens of the rotations between the presented token and the newest too", async () => {
    const first = await startFamily(user("erin"));
    // A thief with the first refresh token refreshes twice; the legitimate client then presents it again.
    const middle = await refresh(first.refresh);
    const newest = await refresh(middle.body.refresh_token as string);
    expect([middle.status, newest.status]).toEqual([200, 200]);
    const held = [first.access, middle.body.access_token as string, newest.body.access_token as string];
    expect(await Promise.all(held.map(active))).toEqual([true, true, true]);
    expect((await refresh(first.refresh)).body.error).toBe("invalid_grant");
    expect(await Promise.all(held.map(active))).toEqual([false, false, false]);
    expect((await familyRevoked(first.family)).data.access_jtis).toEqual(held.map(jtiOf));
  });

  it("is answered temporarily_unavailable while its event cannot be stored; the family stays revoked and the next presentation stores that event, once", async () => {
    const first = await startFamily(user("bob"));
    const second = await refresh(first.refresh);
    expect(second.status).toBe(200);
    const newest = second.body.access_token as string;

    const { value: refused } = await whileEventsRefused(stack.nats.url, () => refresh(first.refresh), EVENT_TYPES.REFRESH_FAMILY_REVOKED);
    expect([refused.status, refused.body.error]).toEqual([503, "temporarily_unavailable"]);
    expect(await eventsOf(EVENT_TYPES.REFRESH_FAMILY_REVOKED, first.family)).toEqual([]);
    // Revoked all the same (the safe side).
    expect(await active(newest)).toBe(false);
    const retryStartedAt = now();

    // The legitimate client comes back with its newest token: refused, once the revocation stored by the replay is recorded.
    const legit = await refresh(second.body.refresh_token as string);
    expect([legit.status, legit.body.error]).toEqual([400, "invalid_grant"]);
    const event = await familyRevoked(first.family);
    expect(event.data).toMatchObject({ reason: "reuse", presented_access_jti: jtiOf(first.access) });
    expect(event.data.revoked_at as number).toBeLessThanOrEqual(retryStartedAt);

    // Later presentations store nothing more: one family event, one revocation event per access token.
    const again = await refresh(first.refresh);
    expect([again.status, again.body.error]).toEqual([400, "invalid_grant"]);
    await familyRevoked(first.family);
    expect((await eventsOf(EVENT_TYPES.TOKEN_REVOKED, first.family)).map((e) => e.data.jti)).toEqual([jtiOf(first.access), jtiOf(newest)]);
  });
});

describe("revoking a refresh token (RFC 7009) after its access token expired", () => {
  it("records the family's revocation though there is no access token left to revoke; a refused event fails it closed and the retry stores it", async () => {
    const first = await startFamily(user("carol"));
    // On the replica, the access token expired AHEAD seconds ago: only the family is left to revoke.
    const { value: refused } = await whileEventsRefused(stack.nats.url, () => revoke(first.refresh, later), EVENT_TYPES.REFRESH_FAMILY_REVOKED);
    expect(refused.ok ? "ok" : refused.failure.error).toBe("temporarily_unavailable");
    expect(await eventsOf(EVENT_TYPES.REFRESH_FAMILY_REVOKED, first.family)).toEqual([]);

    const retried = await revoke(first.refresh, later);
    expect(retried.ok).toBe(true);
    const event = await familyRevoked(first.family);
    expect(event.data).toMatchObject({
      reason: "client_request",
      revoked_by: MANAGED,
      client_id: MANAGED,
      presented_access_jti: jtiOf(first.access),
      access_jtis: [jtiOf(first.access)],
    });
    // Expired long ago to the replica: not revoked again (a verifier refuses it anyway).
    expect(await eventsOf(EVENT_TYPES.TOKEN_REVOKED, first.family)).toEqual([]);
    // The family is dead; revoking again or presenting it stores nothing more.
    const after = await refresh(first.refresh);
    expect([after.status, after.body.error]).toEqual([400, "invalid_grant"]);
    expect((await revoke(first.refresh, later)).ok).toBe(true);
    await familyRevoked(first.family);
  });
});

describe("a family whose subject was revoked (RevokeSubject)", () => {
  it("is refused and revoked, and that revocation is recorded before the answer", async () => {
    const sub = user("dave");
    const first = await startFamily(sub);
    const operator = remember(await clientCredentialsToken(stack, OPERATOR, SECRET, { audience: "sts-issuer-admin", scope: "subjects:revoke" }));
    const revoked = await call<RevokeSubjectResponse__Output>(grpc.token, "RevokeSubject", { iss: stack.gatewayUrl, sub }, bearer(operator));
    expect(revoked.ok).toBe(true);

    const r = await refresh(first.refresh);
    expect([r.status, r.body.error]).toEqual([400, "invalid_grant"]);
    const event = await familyRevoked(first.family);
    // The subject's revocation already ends its access tokens: none is revoked again.
    expect(event.data).toMatchObject({ reason: "subject_revoked", sub, client_id: MANAGED, revoked_by: MANAGED, access_jtis: [] });
  });
});

describe("a refresh token presented by another client (RFC 6749 §6)", () => {
  it("gets the answer an unknown token gets, and its family is left to its own client", async () => {
    const first = await startFamily(user("erin"));
    const stolen = await refresh(first.refresh, OTHER);
    const unknown = await refresh(`str_${randomUUID()}`, OTHER);
    expect(stolen.status).toBe(400);
    expect(stolen.body).toEqual(unknown.body);
    expect(stolen.body.error).toBe("invalid_grant");
    expect((await refresh(first.refresh)).status).toBe(200);
    expect(await eventsOf(EVENT_TYPES.REFRESH_FAMILY_REVOKED, first.family)).toEqual([]);
  });

  it("is left alone when another client revokes it or its access token, answered as an unknown token is (RFC 7009 §2.2)", async () => {
    const first = await startFamily(user("gina"));
    const asOther = { authorization: basicAuth(OTHER, SECRET) };
    const revokeUrl = `${stack.gatewayUrl}/oauth2/revoke`;
    const unknown = await postForm(revokeUrl, { token: `str_${randomUUID()}` }, asOther);
    for (const token of [first.refresh, first.access]) {
      const r = await postForm(revokeUrl, { token }, asOther);
      expect([r.status, r.body]).toEqual([unknown.status, unknown.body]);
    }
    expect(unknown.status).toBe(200);
    expect(await active(first.access)).toBe(true);
    expect(await eventsOf(EVENT_TYPES.REFRESH_FAMILY_REVOKED, first.family)).toEqual([]);
    expect((await refresh(first.refresh)).status).toBe(200);
  });
});

describe("the audit trail", () => {
  it("keeps refresh_family.revoked in the projection, queryable by type, and no event holds a token", async () => {
    const first = await startFamily(user("frank"));
    expect((await refresh(first.refresh)).status).toBe(200);
    expect((await refresh(first.refresh)).status).toBe(400);
    const found = await waitFor(
      async () => {
        const r = await call<QueryResponse__Output>(grpc.audit, "Query", {
          filter: { type: EVENT_TYPES.REFRESH_FAMILY_REVOKED, client_id: MANAGED },
          page_size: 1000,
          page_token: "",
        });
        if (!r.ok) throw new Error(r.failure.description);
        return r.value.records.find((x) => (JSON.parse(x.data_json) as { refresh_family?: string }).refresh_family === first.family);
      },
      { timeoutMs: 10_000, message: "the family's revocation never reached the audit projection" },
    );
    expect(found.type).toBe(EVENT_TYPES.REFRESH_FAMILY_REVOKED);
    const raw = (await storedEvents(stack.nats.url)).map((e) => e.raw).join("\n");
    // This test's family is among them; a JWT is also looked for by its signature alone.
    expect(leakedTokens(raw, obtained)).toEqual([]);
  });
});
