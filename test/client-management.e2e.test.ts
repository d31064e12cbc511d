/**
 * Client management (RFC 7591/7592): admins create, read, update and delete
 * only their own managed clients; a client rotates its own keys without its
 * admin; bad metadata gets invalid_client_metadata, metadata this server does
 * not understand is ignored. A change whose event JetStream refuses (its
 * subject taken out of the events stream) fails closed, and the retry
 * completes it with its event stored once.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey, JWK } from "jose";
import { BUCKETS, EVENT_TYPES, connectNats, decodeKey, encodeKey, openBucket } from "@sts/nats";
import type { EventType } from "@sts/nats";
import type { ClientRecord } from "@sts/client-auth";
import { waitFor } from "@sts/testkit";
import { basicAuth, clientCredentialsToken, postForm, startStack, storedEvents, whileEventsRefused } from "./harness.js";
import type { Stack } from "./harness.js";

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
let stack: Stack;
let registerUrl: string;
let tokenUrl: string;
const keys: Record<string, { privateKey: CryptoKey; jwk: JWK }> = {};
const now = (): number => Math.floor(Date.now() / 1000);

async function keyPair(kid: string): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const pair = await generateKeyPair("ES256", { extractable: true });
  return { privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: "ES256" } };
}

const assertion = (clientId: string, key: { privateKey: CryptoKey; jwk: JWK }): Promise<string> =>
  new SignJWT({ iss: clientId, sub: clientId, aud: stack.gatewayUrl, jti: randomUUID(), iat: now(), exp: now() + 60 })
    .setProtectedHeader({ alg: "ES256", kid: key.jwk.kid })
    .sign(key.privateKey);

async function tokenFor(
  clientId: string,
  key: { privateKey: CryptoKey; jwk: JWK },
  form: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  return postForm(tokenUrl, {
    grant_type: "client_credentials",
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: await assertion(clientId, key),
    ...form,
  });
}

async function manage(
  method: string,
  path: string,
  bearer: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown>; challenge: string | null }> {
  const res = await fetch(`${registerUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body !== undefined && { "content-type": "application/json" }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, challenge: res.headers.get("www-authenticate") };
}

/** The clients bucket itself (no replica's copy): every client id it holds a value for, and one client's stored record. */
async function registry(): Promise<{ ids: string[]; record(id: string): Promise<ClientRecord | undefined> }> {
  const nats = await connectNats({ servers: stack.nats.url, name: "test-registry" });
  try {
    const kv = await openBucket(nats, BUCKETS.clients, { bind: true });
    const ids: string[] = [];
    for await (const k of await kv.keys()) ids.push(decodeKey(k));
    const records = new Map<string, ClientRecord>();
    for (const id of ids) {
      const e = await kv.get(encodeKey(id));
      if (e?.operation === "PUT") records.set(id, e.json<ClientRecord>());
    }
    return { ids: ids.sort(), record: (id) => Promise.resolve(records.get(id)) };
  } finally {
    await nats.close();
  }
}

/** The resource server the managed clients' tokens are for: it may introspect them (RFC 7662 §4). */
const STORAGE = { client_id: "storage", client_secret: "storage-secret-0000000001" };
/** A client that is no admin, yet may get a token for the registration endpoint (its audience names it). */
const PLAIN = { client_id: "plain:test", client_secret: "plain-secret-000000000001" };

/** The stored events of `type` about `clientId` (CloudEvents data). */
async function eventsAbout(type: EventType, clientId: string): Promise<Array<Record<string, unknown>>> {
  const key = type === EVENT_TYPES.SUBJECT_REVOKED ? "sub" : "client_id";
  return (await storedEvents(stack.nats.url)).filter((e) => e.type === type && e.data[key] === clientId).map((e) => e.data);
}

beforeAll(async () => {
  keys.admin1 = await keyPair("a1");
  keys.admin2 = await keyPair("a2");
  keys.admin3 = await keyPair("a3");
  keys.managed = await keyPair("m1");
  stack = await startStack({ clients: [STORAGE] }, { services: ["issuer", "gateway"] });
  registerUrl = `${stack.gatewayUrl}/oauth2/register`;
  tokenUrl = `${stack.gatewayUrl}/oauth2/token`;
  // The admins are declared after start: the config needs the gateway's URL in their audience.
  await stack.processes.issuer?.stop();
  const { readFileSync, writeFileSync } = await import("node:fs");
  const { parse, stringify } = await import("yaml");
  const config = parse(readFileSync(stack.configFile, "utf8")) as Record<string, unknown>;
  config.clients = [
    STORAGE,
    { ...PLAIN, audience: [registerUrl] },
    {
      client_id: "admin:test/vo_1",
      admin: true,
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [keys.admin1.jwk] },
      audience: [registerUrl],
      manages: { audience: ["storage", "archive"], scope: ["read", "write", "read:/data/vo_1"] },
    },
    {
      client_id: "admin:test/vo_2",
      admin: true,
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [keys.admin2.jwk] },
      audience: [registerUrl],
      manages: { audience: ["storage"], scope: ["read"] },
    },
    {
      client_id: "admin:test/vo_3",
      admin: true,
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [keys.admin3.jwk] },
      audience: [registerUrl],
      manages: { audience: ["storage"], scope: ["read"], max_clients: 1 },
    },
  ];
  // A user whose id sits where admin 1's clients are named: no client may be registered under it.
  config.users = { "admin:test/vo_1/alice": { name: "Alice" } };
  writeFileSync(stack.configFile, stringify(config));
  await stack.start("issuer");
}, 90_000);

afterAll(async () => {
  await stack?.stop();
});

describe("client management", () => {
  let admin1: string;
  let admin2: string;

  /** An admin's access token for the registration endpoint. */
  async function adminToken(clientId: string, key: { privateKey: CryptoKey; jwk: JWK }): Promise<string> {
    const r = await tokenFor(clientId, key, { resource: registerUrl });
    expect(r.status).toBe(200);
    return r.body.access_token as string;
  }

  /** Metadata of a private_key_jwt client with `key` for storage, reading. */
  const metadataOf = (key: { jwk: JWK }): Record<string, unknown> => ({
    token_endpoint_auth_method: "private_key_jwt",
    jwks: { keys: [key.jwk] },
    scope: "read",
    audience: ["storage"],
  });

  /** Registers a fresh private_key_jwt client under admin 1 and waits until it can authenticate with its key. */
  async function registerManaged(): Promise<{ clientId: string; rat: string; key: { privateKey: CryptoKey; jwk: JWK }; path: string }> {
    const key = await keyPair(`m-${randomUUID()}`);
    const r = await manage("POST", "", admin1, {
      client_name: "batch job",
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [key.jwk] },
      grant_types: ["client_credentials"],
      scope: "read write",
      audience: ["storage"],
    });
    expect(r.status).toBe(201);
    const clientId = r.body.client_id as string;
    await waitFor(async () => (await tokenFor(clientId, key, { scope: "read" })).status === 200, { message: "registered client cannot authenticate" });
    return { clientId, rat: r.body.registration_access_token as string, key, path: `/${encodeURIComponent(clientId)}` };
  }

  beforeAll(async () => {
    admin1 = await adminToken("admin:test/vo_1", keys.admin1!);
    admin2 = await adminToken("admin:test/vo_2", keys.admin2!);
  });

  it("lets an admin register a client, which then authenticates with its own key", async () => {
    const r = await manage("POST", "", admin1, {
      client_name: "batch job",
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [keys.managed!.jwk] },
      grant_types: ["client_credentials"],
      scope: "read write",
      audience: ["storage"],
    });
    expect(r.status).toBe(201);
    const clientId = r.body.client_id as string;
    expect(clientId.startsWith("admin:test/vo_1/")).toBe(true);
    expect(r.body).toMatchObject({
      admin_client_id: "admin:test/vo_1",
      scope: "read write",
      registration_client_uri: `${registerUrl}/${encodeURIComponent(clientId)}`,
    });
    expect(r.body.registration_access_token).toEqual(expect.any(String));
    expect(r.body.client_secret).toBeUndefined();
    const t = await waitFor(async () => {
      const x = await tokenFor(clientId, keys.managed!, { scope: "read" });
      return x.status === 200 ? x : undefined;
    });
    expect(t.body.scope).toBe("read");
  });

  it("registers a client under a name of the admin's choosing only below the admin's own id, and never a user's (RFC 9700 §4.15)", async () => {
    const key = await keyPair(`m-${randomUUID()}`);
    const metadata = { token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [key.jwk] }, scope: "read", audience: ["storage"] };
    const chosen = `admin:test/vo_1/batch-${randomUUID()}`;
    const r = await manage("POST", "", admin1, { ...metadata, client_id: chosen });
    expect([r.status, r.body.client_id]).toEqual([201, chosen]);
    const NAMED = "client_id: must be the admin's client id, a '/', and a name of 1 to 64 letters, digits, '.', '_', '~' or '-'";
    for (const [clientId, reason] of [
      ["bob", NAMED],
      ["admin:test/vo_2/x", NAMED],
      ["admin:test/vo_1/", NAMED],
      ["admin:test/vo_1/x/y", NAMED],
      ["admin:test/vo_1/\u202ejob", NAMED],
      ["admin:test/vo_1/alice", "client_id: is a user's id here"],
    ]) {
      const refused = await manage("POST", "", admin1, { ...metadata, client_id: clientId });
      expect([refused.status, refused.body.error, refused.body.error_description]).toEqual([400, "invalid_client_metadata", reason]);
      expect((await manage("GET", `/${encodeURIComponent(clientId!)}`, admin1)).status).not.toBe(200);
    }
  });

  it("keeps other admins out with the answer a client that does not exist gets: 401 invalid_token (RFC 7592 §2.1-2.3)", async () => {
    const { path } = await registerManaged();
    const missing = `/${encodeURIComponent(`admin:test/vo_2/${randomUUID()}`)}`;
    for (const [method, body] of [
      ["GET", undefined],
      ["PUT", { scope: "read" }],
      ["DELETE", undefined],
    ] as const) {
      for (const target of [path, missing]) {
        const r = await manage(method, target, admin2, body);
        expect([method, r.status, r.body, r.challenge]).toEqual([
          method,
          401,
          { error: "invalid_token", error_description: "no such client for this credential" },
          'Bearer error="invalid_token"',
        ]);
      }
    }
    // Nothing the other admin tried took effect.
    const own = await manage("GET", path, admin1);
    expect([own.status, own.body.scope]).toEqual([200, "read write"]);
  });

  it("answers a client id longer than any client's as one that does not exist, without cutting the issuer's NATS connection", async () => {
    const issuer = stack.processes.issuer!;
    const disconnects = () =>
      issuer
        .output()
        .split("\n")
        .filter((line) => line.includes("NATS disconnected")).length;
    const before = disconnects();
    // Encoded as a KV key, past the 4 KiB control line nats-server closes a connection for.
    const long = `/${encodeURIComponent(`admin:test/vo_1/${"x".repeat(3_500)}`)}`;
    for (const [method, body] of [
      ["PUT", { scope: "read" }],
      ["DELETE", undefined],
      ["GET", undefined],
    ] as const) {
      const r = await manage(method, long, admin1, body);
      expect([method, r.status, r.body.error]).toEqual([method, 401, "invalid_token"]);
    }
    expect(disconnects()).toBe(before);
    const { path, key } = await registerManaged();
    expect((await manage("PUT", path, admin1, metadataOf(key))).status).toBe(200);
  });

  it("refuses metadata past the registration limits (RFC 7591 §3.2.2), and registers no more clients for an admin than its manages.max_clients", async () => {
    const admin3 = await adminToken("admin:test/vo_3", keys.admin3!);
    const metadata = metadataOf(keys.managed!);
    const named = await manage("POST", "", admin3, { ...metadata, client_name: "n".repeat(257) });
    expect([named.status, named.body]).toEqual([400, { error: "invalid_client_metadata", error_description: "client_name: at most 256 characters" }]);
    const manyKeys = { keys: Array.from({ length: 17 }, (_, i) => ({ ...keys.managed!.jwk, kid: `k-${i}` })) };
    const keyed = await manage("POST", "", admin3, { ...metadata, jwks: manyKeys });
    expect([keyed.status, keyed.body.error_description]).toEqual([400, "jwks: at most 16 keys"]);

    const first = await manage("POST", "", admin3, metadata);
    expect(first.status).toBe(201);
    const path = `/${encodeURIComponent(first.body.client_id as string)}`;
    await waitFor(async () => (await manage("GET", path, admin3)).status === 200, { message: "the registered client is not served" });
    const second = await manage("POST", "", admin3, metadata);
    expect([second.status, second.body]).toEqual([
      400,
      { error: "invalid_client_metadata", error_description: "this admin has registered as many clients as it may (manages.max_clients: 1); delete one first" },
    ]);
    // Another admin's quota is its own; a deletion makes room again.
    expect((await manage("POST", "", admin1, metadata)).status).toBe(201);
    expect((await manage("DELETE", path, admin3)).status).toBe(204);
    await waitFor(async () => (await manage("POST", "", admin3, metadata)).status === 201, { message: "no room after a deletion" });
  });

  it("answers a valid token of a client that is no admin with 403 insufficient_scope (RFC 6750 §3.1)", async () => {
    const { path } = await registerManaged();
    const token = await clientCredentialsToken(stack, PLAIN.client_id, PLAIN.client_secret, { resource: registerUrl });
    for (const [method, target, body] of [
      ["POST", "", { token_endpoint_auth_method: "client_secret_basic", scope: "read", audience: ["storage"] }],
      ["GET", path, undefined],
      ["PUT", path, { scope: "read" }],
      ["DELETE", path, undefined],
    ] as const) {
      const r = await manage(method, target, token, body);
      expect([method, r.status, r.body, r.challenge]).toEqual([
        method,
        403,
        { error: "insufficient_scope", error_description: "only admin clients manage clients" },
        'Bearer error="insufficient_scope"',
      ]);
    }
    expect((await manage("GET", path, admin1)).status).toBe(200);
  });

  it("lets the client rotate its own keys with its registration access token, and nothing else", async () => {
    const { clientId, rat, key, path } = await registerManaged();
    const rotated = await keyPair(`r-${randomUUID()}`);
    expect((await manage("PUT", path, rat, { scope: "read write admin" })).body.error).toBe("insufficient_scope");
    const r = await manage("PUT", path, rat, { jwks: { keys: [rotated.jwk] } });
    expect(r.status).toBe(200);
    await waitFor(async () => (await tokenFor(clientId, rotated)).status === 200);
    expect((await tokenFor(clientId, key)).status).toBe(401);
    expect((await manage("GET", path, rat)).body.scope).toBe("read write");
  });

  it("lets the admin update and delete its client", async () => {
    const { clientId, key, path } = await registerManaged();
    const u = await manage("PUT", path, admin1, {
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [key.jwk] },
      scope: "read",
      audience: ["storage"],
    });
    expect([u.status, u.body.scope]).toEqual([200, "read"]);
    expect((await manage("DELETE", path, admin1)).status).toBe(204);
    await waitFor(async () => (await tokenFor(clientId, key)).status === 401);
  });

  it("returns the secret an update makes when a client moves to client_secret_basic (RFC 7592 §2.2)", async () => {
    const { clientId, path } = await registerManaged();
    const moved = await manage("PUT", path, admin1, { token_endpoint_auth_method: "client_secret_basic", scope: "read", audience: ["storage"] });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ token_endpoint_auth_method: "client_secret_basic", client_secret: expect.any(String), client_secret_expires_at: 0 });
    const secret = moved.body.client_secret as string;
    await waitFor(async () => (await postForm(tokenUrl, { grant_type: "client_credentials" }, { authorization: basicAuth(clientId, secret) })).status === 200, {
      message: "the secret returned by the update does not authenticate",
    });
    // A later update keeps that secret, and does not show it again.
    const again = await manage("PUT", path, admin1, { token_endpoint_auth_method: "client_secret_basic", scope: "read write", audience: ["storage"] });
    expect([again.status, again.body.client_secret]).toEqual([200, undefined]);
    await waitFor(async () => (await manage("GET", path, admin1)).body.scope === "read write");
    expect((await postForm(tokenUrl, { grant_type: "client_credentials" }, { authorization: basicAuth(clientId, secret) })).status).toBe(200);
  });

  it("mints a new secret when a client comes back to client_secret_basic, and the one it had before stays dead (RFC 7592 §2.2)", async () => {
    const secretMeta = { token_endpoint_auth_method: "client_secret_basic", scope: "read", audience: ["storage"] };
    const registered = await manage("POST", "", admin1, secretMeta);
    expect(registered.status).toBe(201);
    const clientId = registered.body.client_id as string;
    const first = registered.body.client_secret as string;
    const path = `/${encodeURIComponent(clientId)}`;
    const withSecret = (secret: string) => postForm(tokenUrl, { grant_type: "client_credentials" }, { authorization: basicAuth(clientId, secret) });
    await waitFor(async () => (await withSecret(first)).status === 200, { message: "the registered secret does not authenticate" });

    const key = await keyPair(`s-${randomUUID()}`);
    const moved = await manage("PUT", path, admin1, { ...secretMeta, token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [key.jwk] } });
    expect([moved.status, moved.body.client_secret]).toEqual([200, undefined]);
    // The bucket every exchanger and sidecar reads keeps nothing that verifies the first secret.
    expect((await (await registry()).record(clientId))?.secret_hash).toBeUndefined();
    await waitFor(async () => (await tokenFor(clientId, key)).status === 200);

    const back = await manage("PUT", path, admin1, secretMeta);
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ token_endpoint_auth_method: "client_secret_basic", client_secret: expect.any(String), client_secret_expires_at: 0 });
    const second = back.body.client_secret as string;
    expect(second).not.toBe(first);
    await waitFor(async () => (await withSecret(second)).status === 200, { message: "the new secret does not authenticate" });
    expect((await withSecret(first)).status).toBe(401);
  });

  it("refuses a jwks with private or symmetric key values at registration and at a client's own update, storing nothing (OIDC Dynamic Client Registration §2)", async () => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    const privateJwk = { ...(await exportJWK(pair.privateKey)), kid: "leaked", alg: "ES256" };
    const symmetric = { kty: "oct", kid: "shared", k: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0" };
    const refusal = [400, { error: "invalid_client_metadata", error_description: "jwks: public keys only, without private or symmetric key values" }];
    const before = (await registry()).ids;
    for (const key of [privateJwk, symmetric]) {
      const r = await manage("POST", "", admin1, {
        token_endpoint_auth_method: "private_key_jwt",
        jwks: { keys: [key] },
        scope: "read",
        audience: ["storage"],
      });
      expect([r.status, r.body]).toEqual(refusal);
    }
    expect((await registry()).ids).toEqual(before);

    const { clientId, rat, key, path } = await registerManaged();
    for (const bearer of [rat, admin1]) {
      for (const bad of [privateJwk, symmetric]) {
        const r = await manage("PUT", path, bearer, {
          token_endpoint_auth_method: "private_key_jwt",
          jwks: { keys: [key.jwk, bad] },
          scope: "read write",
          audience: ["storage"],
        });
        expect([r.status, r.body]).toEqual(refusal);
      }
    }
    expect((await (await registry()).record(clientId))?.jwks).toEqual({ keys: [key.jwk] });
  });

  it("returns a secret once for a secret client, and refuses bad metadata", async () => {
    const r = await manage("POST", "", admin1, { token_endpoint_auth_method: "client_secret_basic", scope: "read", audience: ["storage"] });
    expect(r.status).toBe(201);
    const secret = r.body.client_secret as string;
    await waitFor(
      async () =>
        (await postForm(tokenUrl, { grant_type: "client_credentials" }, { authorization: basicAuth(r.body.client_id as string, secret) })).status === 200,
    );
    const both = await manage("POST", "", admin1, {
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [keys.managed!.jwk] },
      jwks_uri: "https://example.org/jwks",
    });
    expect([both.status, both.body.error]).toEqual([400, "invalid_client_metadata"]);
    const privileged = await manage("POST", "", admin1, { admin: true });
    expect(privileged.body.error).toBe("invalid_client_metadata");
    const anonymous = await manage("POST", "", "not-a-token", {});
    expect([anonymous.status, anonymous.body.error]).toEqual([401, "invalid_token"]);
  });

  it("lets an admin hand out only the audiences and scopes it manages", async () => {
    const base = { token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [keys.managed!.jwk] } };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ scope: "read", audience: ["payments"] }, "audience"],
      [{ scope: "read admin", audience: ["storage"] }, "scope"],
      [{ scope: "read:/data", audience: ["storage"] }, "scope"],
      [{ scope: "read:/data/vo_1X", audience: ["storage"] }, "scope"],
      [{ scope: "read", audience: ["storage"], scope_templates: { "read:": ["read:/home/{sub}"] } }, "scope"],
    ];
    for (const [meta, field] of cases) {
      const r = await manage("POST", "", admin1, { ...base, ...meta });
      expect([r.status, r.body.error, r.body.error_description]).toEqual([400, "invalid_client_metadata", `${field}: beyond what this admin manages`]);
    }
    const narrower = await manage("POST", "", admin1, { ...base, scope: "read:/data/vo_1/run7 write", audience: ["storage"] });
    expect(narrower.status).toBe(201);
    // A second admin that manages less cannot widen a client through an update either.
    const other = await manage("POST", "", admin2, { ...base, scope: "write", audience: ["storage"] });
    expect([other.status, other.body.error]).toEqual([400, "invalid_client_metadata"]);
    const path = `/${encodeURIComponent(narrower.body.client_id as string)}`;
    const widened = await manage("PUT", path, admin1, { ...base, scope: "read admin", audience: ["storage"] });
    expect([widened.status, widened.body.error]).toEqual([400, "invalid_client_metadata"]);
  });

  it("ends a user's grants once a client takes the user's id, and a deleted client's tokens with it (RFC 9700 §4.15, RFC 7592 §2.3)", async () => {
    const key = await keyPair(`w-${randomUUID()}`);
    const workload = await manage("POST", "", admin1, {
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [key.jwk] },
      grant_types: [JWT_BEARER, "refresh_token"],
      scope: "read",
      audience: ["storage"],
    });
    expect(workload.status).toBe(201);
    const workloadId = workload.body.client_id as string;
    /** The workload's jwt-bearer grant (RFC 7523 §2.1) for `sub`. */
    const grantFor = async (sub: string) => {
      const assertion = await new SignJWT({ iss: workloadId, sub, aud: stack.gatewayUrl, jti: randomUUID(), iat: now(), exp: now() + 60 })
        .setProtectedHeader({ alg: "ES256", kid: key.jwk.kid })
        .sign(key.privateKey);
      return tokenFor(workloadId, key, { grant_type: JWT_BEARER, assertion, scope: "read" });
    };
    const refresh = (refresh_token: string) => tokenFor(workloadId, key, { grant_type: "refresh_token", refresh_token });
    /** Introspection as the resource server the tokens are for (RFC 7662 §4). */
    const active = async (token: string) =>
      (await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token }, { authorization: basicAuth(STORAGE.client_id, STORAGE.client_secret) })).body.active;

    // A user id no client has yet: the workload gets a refresh family for it.
    const user = `admin:test/vo_1/later-${randomUUID()}`;
    const family = await waitFor(async () => {
      const r = await grantFor(user);
      return r.status === 200 ? (r.body.refresh_token as string) : undefined;
    });

    // Then an admin gives a client that id.
    const clientKey = await keyPair(`l-${randomUUID()}`);
    const later = await manage("POST", "", admin1, {
      client_id: user,
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [clientKey.jwk] },
      scope: "read",
      audience: ["storage"],
    });
    expect(later.status).toBe(201);
    const own = await waitFor(async () => {
      const r = await tokenFor(user, clientKey, { scope: "read" });
      return r.status === 200 ? (r.body.access_token as string) : undefined;
    });
    // No new grant and no refresh for the user reads as the client's own any more.
    const assertionRefused = await grantFor(user);
    expect([assertionRefused.status, assertionRefused.body.error, assertionRefused.body.error_description]).toEqual([
      400,
      "invalid_grant",
      "the assertion's subject is another client of this stack, not a user",
    ]);
    const refreshRefused = await refresh(family);
    expect([refreshRefused.status, refreshRefused.body.error, refreshRefused.body.error_description]).toEqual([
      400,
      "invalid_grant",
      "the refresh token's subject is another client of this stack, not a user",
    ]);

    // Deleting the client revokes its id: its token ends at once, and so does the family begun before.
    expect(await active(own)).toBe(true);
    expect((await manage("DELETE", `/${encodeURIComponent(user)}`, admin1)).status).toBe(204);
    expect(await active(own)).toBe(false);
    expect((await refresh(family)).body.error).toBe("invalid_grant");
    const revoked = (await storedEvents(stack.nats.url)).filter((e) => e.type === "subject.revoked" && e.data.sub === user);
    expect(revoked.map((e) => e.data)).toEqual([expect.objectContaining({ iss: stack.gatewayUrl, by: "admin:test/vo_1", reason: "client deleted" })]);
  });

  it("warns at start of a client whose id a user was given since, which gets no token of its own until the user goes", async () => {
    const { clientId, key } = await registerManaged();
    const { readFileSync, writeFileSync } = await import("node:fs");
    const { parse, stringify } = await import("yaml");
    const original = readFileSync(stack.configFile, "utf8");
    const restartIssuer = async (configText: string) => {
      await stack.processes.issuer?.stop();
      writeFileSync(stack.configFile, configText);
      return stack.start("issuer");
    };
    try {
      const config = parse(original) as { users: Record<string, unknown> };
      config.users = { ...config.users, [clientId]: { name: "Bob" } };
      const issuer = await restartIssuer(stringify(config));
      await waitFor(async () => issuer.output().includes("get no token of their own"), { message: "no warning at start" });
      const warning = issuer
        .output()
        .split("\n")
        .find((line) => line.includes("get no token of their own"));
      expect(JSON.parse(warning ?? "{}")).toMatchObject({ level: 40, clients: [clientId] });
      const refused = await tokenFor(clientId, key, { scope: "read" });
      expect([refused.status, refused.body.error]).toEqual([400, "unauthorized_client"]);
    } finally {
      await restartIssuer(original);
    }
    // With the user gone from users, the client is its own subject again.
    expect((await tokenFor(clientId, key, { scope: "read" })).status).toBe(200);
  });

  it("holds a refresh to the client's current scope and audiences, not those it had when the token was issued", async () => {
    const key = await keyPair(`rf-${randomUUID()}`);
    const meta = {
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [key.jwk] },
      grant_types: [JWT_BEARER, "refresh_token"],
      scope: "read write",
      audience: ["storage", "archive"],
    };
    const registered = await manage("POST", "", admin1, meta);
    expect(registered.status).toBe(201);
    const clientId = registered.body.client_id as string;
    const path = `/${encodeURIComponent(clientId)}`;
    /** A jwt-bearer grant (RFC 7523 §2.1) for user jeff, answered with a refresh token. */
    const start = (scope: string) =>
      waitFor(async () => {
        const assertion = await new SignJWT({ iss: clientId, sub: "jeff", aud: stack.gatewayUrl, jti: randomUUID(), iat: now(), exp: now() + 60 })
          .setProtectedHeader({ alg: "ES256", kid: key.jwk.kid })
          .sign(key.privateKey);
        const r = await tokenFor(clientId, key, { grant_type: JWT_BEARER, assertion, scope });
        return r.status === 200 ? (r.body.refresh_token as string) : undefined;
      });
    const refresh = (refresh_token: string) => tokenFor(clientId, key, { grant_type: "refresh_token", refresh_token });
    /** The admin's update, once the issuer serves it. */
    const update = async (change: Partial<typeof meta>) => {
      const next = { ...meta, ...change };
      expect((await manage("PUT", path, admin1, next)).status).toBe(200);
      await waitFor(async () => {
        const { body } = await manage("GET", path, admin1);
        return body.scope === next.scope && JSON.stringify(body.audience) === JSON.stringify(next.audience);
      });
    };

    const both = await start("read write");
    await update({ scope: "read" });
    const narrowed = await refresh(both);
    expect([narrowed.status, narrowed.body.scope]).toEqual([200, "read"]);
    await update({ scope: "read", audience: ["archive"] });
    const moved = await refresh(narrowed.body.refresh_token as string);
    expect([moved.status, moved.body.error]).toEqual([400, "invalid_target"]);

    await update({});
    const writeOnly = await start("write");
    await update({ scope: "read" });
    const gone = await refresh(writeOnly);
    expect([gone.status, gone.body.error]).toEqual([400, "invalid_scope"]);
  });

  it("refuses lifetimes beyond the issuer's, and does not echo unknown fields (RFC 7591 §3.2.1)", async () => {
    const base = { token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [keys.managed!.jwk] }, scope: "read", audience: ["storage"] };
    // The stack's longest access token lifetime is the default 300 s; refresh tokens default to one day.
    const access = await manage("POST", "", admin1, { ...base, access_token_ttl: "365d" });
    expect([access.status, access.body.error]).toEqual([400, "invalid_client_metadata"]);
    expect(access.body.error_description).toMatch(/^access_token_ttl: at most 300 s/);
    const refresh = await manage("POST", "", admin1, { ...base, refresh_token_ttl: "400d" });
    expect([refresh.status, refresh.body.error]).toEqual([400, "invalid_client_metadata"]);
    expect(refresh.body.error_description).toMatch(/^refresh_token_ttl: at most/);
    expect((await manage("POST", "", admin1, { ...base, access_token_ttl: "300s" })).status).toBe(201);
    const unknown = await manage("POST", "", admin1, { ...base, "x-evil-<script>": 1 });
    expect(unknown.status).toBe(201);
    expect(JSON.stringify(unknown.body)).not.toContain("evil");
  });

  it("does not let the stack's internal client introspect or revoke others' tokens through the gateway", async () => {
    const { clientId, key } = await registerManaged();
    const token = (await tokenFor(clientId, key, { scope: "read" })).body.access_token as string;
    const internal = { authorization: basicAuth("sts-exchanger", stack.secrets.exchanger) };
    expect((await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token }, internal)).body).toEqual({ active: false });
    // Answered as an unknown token is (RFC 7009 §2.2): an error would tell it the token is live for another client.
    const revoked = await postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token }, internal);
    const unknown = await postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token: `${token.slice(0, -4)}AAAA` }, internal);
    expect([revoked.status, revoked.body]).toEqual([200, {}]);
    expect([revoked.status, revoked.body]).toEqual([unknown.status, unknown.body]);
    // The resource server it is for still sees it active: nothing was revoked.
    expect(
      (await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token }, { authorization: basicAuth(STORAGE.client_id, STORAGE.client_secret) })).body.active,
    ).toBe(true);
  });

  it("takes the bearer scheme in any case (RFC 9110 §11.1)", async () => {
    const { clientId, path } = await registerManaged();
    const res = await fetch(`${registerUrl}${path}`, { headers: { authorization: `bearer ${admin1}` } });
    expect([res.status, ((await res.json()) as { client_id?: string }).client_id]).toEqual([200, clientId]);
  });

  it("ignores client metadata it does not understand and returns only what it stored (RFC 7591 §2, §3.2.1)", async () => {
    const key = await keyPair(`u-${randomUUID()}`);
    const unknown = {
      contacts: ["ops@example.org"],
      software_id: "4NRB1-0XZABZI9E6-5SM3R",
      software_version: "2.1",
      logo_uri: "https://example.org/logo.png",
      client_uri: "https://example.org",
      tos_uri: "https://example.org/tos",
      redirect_uris: ["https://example.org/cb"],
      response_types: ["code"],
      "x-evil-<script>": 1,
    };
    const r = await manage("POST", "", admin1, {
      ...unknown,
      client_name: "batch job",
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [key.jwk] },
      scope: "read",
      audience: ["storage"],
    });
    expect([r.status, r.body.client_name, r.body.scope]).toEqual([201, "batch job", "read"]);
    const clientId = r.body.client_id as string;
    const read = await waitFor(async () => {
      const g = await manage("GET", `/${encodeURIComponent(clientId)}`, admin1);
      return g.status === 200 ? g.body : undefined;
    });
    for (const shown of [r.body, read]) expect(Object.keys(shown).filter((field) => field in unknown)).toEqual([]);
    expect(JSON.stringify(await (await registry()).record(clientId))).not.toMatch(/contacts|software|logo|evil/);
    // Understood fields keep every check: a privilege is refused, not ignored.
    const privileged = await manage("POST", "", admin1, { ...unknown, scope: "read", audience: ["storage"], internal: true });
    expect([privileged.status, privileged.body.error, privileged.body.error_description]).toEqual([
      400,
      "invalid_client_metadata",
      "internal cannot be set by registration",
    ]);
  });

  it("takes back what a registration or a read returned (RFC 7592 §2.2), and refuses a server-set value changed", async () => {
    const registered = await manage("POST", "", admin1, { token_endpoint_auth_method: "client_secret_basic", scope: "read write", audience: ["storage"] });
    expect(registered.status).toBe(201);
    const clientId = registered.body.client_id as string;
    const secret = registered.body.client_secret as string;
    const path = `/${encodeURIComponent(clientId)}`;
    const readWhen = (scope: string) =>
      waitFor(async () => {
        const g = await manage("GET", path, admin1);
        return g.body.scope === scope ? g.body : undefined;
      });
    await readWhen("read write");
    // The registration response as it came (secret, registration_access_token and all), with one change.
    const first = await manage("PUT", path, admin1, { ...registered.body, scope: "read" });
    expect([first.status, first.body.scope, first.body.client_secret]).toEqual([200, "read", undefined]);
    const second = await manage("PUT", path, admin1, { ...(await readWhen("read")), scope: "read write" });
    expect([second.status, second.body.scope]).toEqual([200, "read write"]);
    const fresh = await readWhen("read write");
    for (const [field, value] of [
      ["client_secret", "a-secret-of-my-own-choosing"],
      ["admin_client_id", "admin:test/vo_2"],
      ["registration_client_uri", `${registerUrl}/other`],
      ["client_id_issued_at", 1],
    ] as const) {
      const r = await manage("PUT", path, admin1, { ...fresh, scope: "read", [field]: value });
      expect([field, r.status, r.body.error, r.body.error_description]).toEqual([
        field,
        400,
        "invalid_client_metadata",
        `${field} cannot be set by registration`,
      ]);
    }
    expect((await readWhen("read write")).scope).toBe("read write");
    expect((await postForm(tokenUrl, { grant_type: "client_credentials" }, { authorization: basicAuth(clientId, secret) })).status).toBe(200);
  });

  it("lets a client take back its own read with new keys (RFC 7592 §2.2), and change nothing else that way", async () => {
    const { clientId, rat, key, path } = await registerManaged();
    const read = await manage("GET", path, rat);
    expect(read.status).toBe(200);
    const renamed = await manage("PUT", path, rat, { ...read.body, client_name: "renamed" });
    expect([renamed.status, renamed.body.error]).toEqual([403, "insufficient_scope"]);
    const rotated = await keyPair(`r-${randomUUID()}`);
    const r = await manage("PUT", path, rat, { ...read.body, jwks: { keys: [rotated.jwk] } });
    expect([r.status, r.body.client_name, r.body.scope]).toEqual([200, "batch job", "read write"]);
    await waitFor(async () => (await tokenFor(clientId, rotated)).status === 200);
    expect((await tokenFor(clientId, key)).status).toBe(401);
  });

  it("registers no client while its client.registered event cannot be stored, and the retry registers it, recorded once (fail closed)", async () => {
    const key = await keyPair(`f-${randomUUID()}`);
    const metadata = { token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [key.jwk] }, scope: "read", audience: ["storage"] };
    const chosen = `admin:test/vo_1/fc-${randomUUID()}`;
    const before = (await registry()).ids;
    const { value: refused } = await whileEventsRefused(
      stack.nats.url,
      async () => [await manage("POST", "", admin1, { ...metadata, client_id: chosen }), await manage("POST", "", admin1, metadata)],
      EVENT_TYPES.CLIENT_REGISTERED,
    );
    for (const r of refused) expect([r.status, r.body.error]).toEqual([503, "temporarily_unavailable"]);
    // Neither the chosen id nor a generated one: no client exists whose registration is not recorded.
    expect((await registry()).ids).toEqual(before);
    const retried = await manage("POST", "", admin1, { ...metadata, client_id: chosen });
    expect([retried.status, retried.body.client_id]).toEqual([201, chosen]);
    await waitFor(async () => (await tokenFor(chosen, key, { scope: "read" })).status === 200);
    expect(await eventsAbout(EVENT_TYPES.CLIENT_REGISTERED, chosen)).toEqual([{ client_id: chosen, admin_client_id: "admin:test/vo_1" }]);
  });

  it("leaves an update without effect while its client.updated event cannot be stored, and the retry makes it, recorded once (fail closed)", async () => {
    const { clientId, key, path } = await registerManaged();
    const narrowed = { token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [key.jwk] }, scope: "read", audience: ["storage"] };
    const { value: refused } = await whileEventsRefused(stack.nats.url, () => manage("PUT", path, admin1, narrowed), EVENT_TYPES.CLIENT_UPDATED);
    expect([refused.status, refused.body.error]).toEqual([503, "temporarily_unavailable"]);
    expect((await (await registry()).record(clientId))?.scope).toEqual(["read", "write"]);
    expect((await tokenFor(clientId, key, { scope: "write" })).status).toBe(200);
    const retried = await manage("PUT", path, admin1, narrowed);
    expect([retried.status, retried.body.scope]).toEqual([200, "read"]);
    expect((await (await registry()).record(clientId))?.scope).toEqual(["read"]);
    expect(await eventsAbout(EVENT_TYPES.CLIENT_UPDATED, clientId)).toEqual([{ client_id: clientId, by: "admin:test/vo_1" }]);
  });

  it("ends a client at once when its client.deleted event cannot be stored, and the admin's retry records the deletion once (fail closed, RFC 7592 §2.3)", async () => {
    const { clientId, key, path } = await registerManaged();
    const { value: refused } = await whileEventsRefused(stack.nats.url, () => manage("DELETE", path, admin1), EVENT_TYPES.CLIENT_DELETED);
    expect([refused.status, refused.body.error]).toEqual([503, "temporarily_unavailable"]);
    await waitFor(async () => (await tokenFor(clientId, key)).status === 401, { message: "the client still gets tokens" });
    expect((await manage("DELETE", path, admin1)).status).toBe(204);
    expect(await eventsAbout(EVENT_TYPES.CLIENT_DELETED, clientId)).toEqual([{ client_id: clientId, by: "admin:test/vo_1" }]);
    expect(await eventsAbout(EVENT_TYPES.SUBJECT_REVOKED, clientId)).toHaveLength(1);
    expect((await registry()).ids).not.toContain(clientId);
    expect((await manage("DELETE", path, admin1)).body.error).toBe("invalid_token");
  });
});
