/**
 * Client management on a real nats-server. Every change is answered only once
 * its event is stored, and a call that failed for want of its event leaves
 * what a retry completes: a registration or an update that could not be
 * recorded takes no effect; a deletion takes effect at once and its retry
 * records it, once. Faults are real: the events stream stops taking the
 * event's subject, so JetStream refuses the publish. The publisher is wrapped
 * only to see which event ids were tried.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KV } from "@nats-io/kv";
import { hashSecret, parseClientRecord, verifySecret } from "@sts/client-auth";
import type { ClientRecord } from "@sts/client-auth";
import { clientSchema } from "@sts/config";
import { OAuthError } from "@sts/errors";
import { MAX_CLIENT_ID_CHARS } from "@sts/jwt";
import type { AccessTokenClaims } from "@sts/jwt";
import {
  BUCKETS,
  EVENTS_STREAM,
  EVENT_TYPES,
  EventPublisher,
  KvCache,
  connectNats,
  decodeKey,
  encodeKey,
  ensureEventsStream,
  eventSubject,
  openBucket,
} from "@sts/nats";
import type { EventType, NatsHandle } from "@sts/nats";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { deleteClient, readClient, registerClient, updateClient } from "./client-management.js";
import type { ManagedRecord, ManagementDeps } from "./client-management.js";
import { METADATA_LIMITS } from "./client-metadata.js";
import { ClientRegistry } from "./registry.js";

const ENDPOINT = "https://sts.test/oauth2/register";
const ADMIN = "admin:a";
const ADMIN_TOKEN = "admin-access-token";
const KEY = { kty: "EC", crv: "P-256", kid: "k1", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" };
const ROTATED = { ...KEY, kid: "k2" };
const METADATA = { token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [KEY] }, scope: "read write", audience: ["storage"] };

let server: NatsServerHandle;
let nats: NatsHandle;
let kv: KV;
let cache: KvCache<ClientRecord>;
let deps: ManagementDeps;
const clock = { t: 1_800_000_000 };
/** Client ids revokeClient was asked to revoke, in order. */
const revoked: string[] = [];
/** Every publish tried: its type and event id. */
const tried: Array<{ type: EventType; id: string | undefined }> = [];

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "client-management-test" });
  await ensureEventsStream(nats);
  kv = await openBucket(nats, BUCKETS.clients, { owner: true });
  cache = new KvCache(kv, { parse: parseClientRecord, invalid: "forget" });
  await cache.ready();
  const registry = new ClientRegistry(
    kv,
    cache,
    () => clock.t,
    () => Promise.resolve(),
  );
  const admin: ClientRecord = {
    client_id: ADMIN,
    token_endpoint_auth_method: "private_key_jwt",
    grant_types: ["client_credentials"],
    scope: [],
    audience: [ENDPOINT],
    access_token_format: {},
    internal: false,
    admin: true,
    manages: { audience: ["storage"], scope: ["read", "write"] },
    created_at: clock.t,
    updated_at: clock.t,
  };
  await kv.put(encodeKey(ADMIN), JSON.stringify(admin));
  await waitFor(() => cache.get(encodeKey(ADMIN)) !== undefined);
  // Gives up quickly when the stream refuses the event.
  const publisher = new EventPublisher(nats, { source: "test", retries: 1, retryWindowMs: 200, timeoutMs: 500 });
  let jti = 0;
  deps = {
    kv,
    lookup: (id) => cache.get(encodeKey(id)),
    inspect: (token) =>
      Promise.resolve(token === ADMIN_TOKEN ? ({ client_id: ADMIN, sub: ADMIN, aud: ENDPOINT, jti: `jti-${++jti}` } as AccessTokenClaims) : undefined),
    events: {
      publish: (type, data, options) => {
        tried.push({ type, id: options?.id });
        return publisher.publish(type, data, options);
      },
    } as EventPublisher,
    registrationEndpoint: ENDPOINT,
    now: () => clock.t,
    maxTtl: { access: 3600, refresh: 86400 },
    isUser: () => false,
    revokeClient: (clientId) => {
      revoked.push(clientId);
      return Promise.resolve();
    },
    maxClients: () => 1000,
    registeredBy: (adminId) => registry.registeredBy(adminId),
  };
}, 30_000);

afterAll(async () => {
  cache?.stop();
  await nats?.close();
  await server?.stop();
});

/** Runs `during` while the events stream takes every event but `type`'s: JetStream has no stream for its subject and refuses it. */
async function whileRefusing<T>(type: EventType, during: () => Promise<T>): Promise<T> {
  const { config } = await nats.jsm.streams.info(EVENTS_STREAM.name);
  const others = Object.values(EVENT_TYPES).filter((t) => t !== type);
  await nats.jsm.streams.update(EVENTS_STREAM.name, { subjects: others.map(eventSubject) });
  try {
    return await during();
  } finally {
    await nats.jsm.streams.update(EVENTS_STREAM.name, { subjects: config.subjects });
  }
}

/** The events of `type` about `clientId` stored in the stream, oldest first, with their stream sequence. */
async function stored(type: EventType, clientId: string): Promise<Array<{ id: string; seq: number; data: Record<string, unknown> }>> {
  const { state } = await nats.jsm.streams.info(EVENTS_STREAM.name);
  const out = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const m = await nats.jsm.streams.getMessage(EVENTS_STREAM.name, { seq }).catch(() => null);
    const e = m?.json<{ id: string; type: string; data: Record<string, unknown> }>();
    if (e?.type === type && e.data.client_id === clientId) out.push({ id: e.id, seq, data: e.data });
  }
  return out;
}

/** The client ids the bucket holds a value for (record or tombstone). */
async function clientKeys(): Promise<string[]> {
  const keys: string[] = [];
  for await (const k of await kv.keys()) keys.push(decodeKey(k));
  return keys.sort();
}

const code = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => "ok",
    (err: unknown) => (err as { code?: string }).code ?? String(err),
  );

const idsTried = (type: EventType): Array<string | undefined> => tried.filter((t) => t.type === type).map((t) => t.id);

/** A refusal as the gateway answers it: HTTP status, code and description. */
const answer = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => "ok",
    (err: unknown) => (err instanceof OAuthError ? [err.status, err.code, err.description] : String(err)),
  );

/** Writes a record straight into the bucket (as another admin's config or an earlier release would have) and waits until it is served. */
async function putRecord(record: ManagedRecord): Promise<void> {
  await kv.put(encodeKey(record.client_id), JSON.stringify(record));
  await waitFor(() => deps.lookup(record.client_id)?.updated_at === record.updated_at);
}

/** A config client's record: an admin when `manages` is given. */
const configClient = (clientId: string, manages?: ClientRecord["manages"]): ClientRecord => ({
  client_id: clientId,
  token_endpoint_auth_method: "private_key_jwt",
  jwks: { keys: [KEY] },
  grant_types: ["client_credentials"],
  scope: [],
  audience: [ENDPOINT],
  access_token_format: {},
  internal: false,
  admin: manages !== undefined,
  ...(manages && { manages }),
  created_at: clock.t,
  updated_at: clock.t,
});

/** deps for a caller whose access token (for the registration endpoint) was issued to `clientId`. */
const depsOf = (clientId: string, token: string): ManagementDeps => ({
  ...deps,
  inspect: (t) => Promise.resolve(t === token ? ({ client_id: clientId, sub: clientId, aud: ENDPOINT, jti: `jti-${token}` } as AccessTokenClaims) : undefined),
});

/** The real bucket, noting the name of each of its methods called (each a NATS request). */
function askedOf(bucket: KV, asked: string[]): KV {
  return new Proxy(bucket, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        asked.push(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** The secret hash the bucket holds for `clientId`, if any. */
const storedSecretHash = async (clientId: string): Promise<string | undefined> => (await kv.get(encodeKey(clientId)))?.json<ClientRecord>().secret_hash;

describe("client management", () => {
  it("registers no client while its client.registered event cannot be stored, and the retry registers it, recorded once", async () => {
    const chosen = `${ADMIN}/job-1`;
    const before = await clientKeys();
    for (const body of [{ ...METADATA, client_id: chosen }, METADATA]) {
      expect(await code(whileRefusing(EVENT_TYPES.CLIENT_REGISTERED, () => registerClient(ADMIN_TOKEN, JSON.stringify(body), deps)))).toBe(
        "temporarily_unavailable",
      );
    }
    // Neither the chosen id nor a generated one: no client exists whose registration is not recorded.
    expect(await clientKeys()).toEqual(before);
    const registered = await registerClient(ADMIN_TOKEN, JSON.stringify({ ...METADATA, client_id: chosen }), deps);
    expect(registered.client_id).toBe(chosen);
    expect((await stored(EVENT_TYPES.CLIENT_REGISTERED, chosen)).map((e) => e.data)).toEqual([{ client_id: chosen, admin_client_id: ADMIN }]);
  });

  it("leaves an update without effect while its client.updated event cannot be stored; the retry publishes the same event", async () => {
    const { client_id: id } = (await registerClient(ADMIN_TOKEN, JSON.stringify(METADATA), deps)) as { client_id: string };
    clock.t += 10;
    const narrower = JSON.stringify({ ...METADATA, scope: "read" });
    tried.length = 0;
    expect(await code(whileRefusing(EVENT_TYPES.CLIENT_UPDATED, () => updateClient(ADMIN_TOKEN, id, narrower, deps)))).toBe("temporarily_unavailable");
    expect((await kv.get(encodeKey(id)))?.json<ClientRecord>().scope).toEqual(["read", "write"]);
    expect((await updateClient(ADMIN_TOKEN, id, narrower, deps)).scope).toBe("read");
    expect((await kv.get(encodeKey(id)))?.json<ClientRecord>().scope).toEqual(["read"]);
    const events = await stored(EVENT_TYPES.CLIENT_UPDATED, id);
    expect(events.map((e) => e.data)).toEqual([{ client_id: id, by: ADMIN }]);
    // Both attempts replaced the same revision: one event id, which JetStream and the audit projection keep once.
    expect(idsTried(EVENT_TYPES.CLIENT_UPDATED)).toEqual([events[0]?.id, events[0]?.id]);
  });

  it("takes a client out of service at once when its client.deleted event cannot be stored, and the admin's retry records the deletion once (RFC 7592 §2.3)", async () => {
    const { client_id: id } = (await registerClient(ADMIN_TOKEN, JSON.stringify(METADATA), deps)) as { client_id: string };
    await waitFor(() => deps.lookup(id) !== undefined);
    revoked.length = 0;
    tried.length = 0;
    expect(await code(whileRefusing(EVENT_TYPES.CLIENT_DELETED, () => deleteClient(ADMIN_TOKEN, id, deps)))).toBe("temporarily_unavailable");
    expect(revoked).toEqual([id]);
    // No copy of the registry serves it any more: the deletion is in effect, its record unreadable as a client.
    await waitFor(() => deps.lookup(id) === undefined, { message: "the deleted client is still served" });
    expect(await code(readClient(ADMIN_TOKEN, id, deps))).toBe("invalid_token");
    expect(await code(updateClient(ADMIN_TOKEN, id, JSON.stringify(METADATA), deps))).toBe("invalid_token");

    await deleteClient(ADMIN_TOKEN, id, deps);
    // The tokens were revoked by the first call; the retry only records the deletion and clears its key.
    expect(revoked).toEqual([id]);
    const events = await stored(EVENT_TYPES.CLIENT_DELETED, id);
    expect(events.map((e) => e.data)).toEqual([{ client_id: id, by: ADMIN }]);
    expect(idsTried(EVENT_TYPES.CLIENT_DELETED)).toEqual([events[0]?.id, events[0]?.id]);
    expect(await clientKeys()).not.toContain(id);
    expect(await code(deleteClient(ADMIN_TOKEN, id, deps))).toBe("invalid_token");
  });

  it("records a deletion whose event is pending before its id is registered again", async () => {
    const chosen = `${ADMIN}/job-again`;
    await registerClient(ADMIN_TOKEN, JSON.stringify({ ...METADATA, client_id: chosen }), deps);
    expect(await code(whileRefusing(EVENT_TYPES.CLIENT_DELETED, () => deleteClient(ADMIN_TOKEN, chosen, deps)))).toBe("temporarily_unavailable");
    clock.t += 10;
    expect((await registerClient(ADMIN_TOKEN, JSON.stringify({ ...METADATA, client_id: chosen }), deps)).client_id).toBe(chosen);
    const deleted = await stored(EVENT_TYPES.CLIENT_DELETED, chosen);
    const registered = await stored(EVENT_TYPES.CLIENT_REGISTERED, chosen);
    expect([deleted.length, registered.length]).toEqual([1, 2]);
    expect(registered[0]!.seq < deleted[0]!.seq && deleted[0]!.seq < registered[1]!.seq).toBe(true);
  });

  it("takes back what a read returned (RFC 7592 §2.2): an admin changes any of it, the client itself only its keys", async () => {
    const registered = await registerClient(ADMIN_TOKEN, JSON.stringify({ ...METADATA, client_name: "batch job", contacts: ["ops@example.org"] }), deps);
    const id = registered.client_id as string;
    const rat = registered.registration_access_token as string;
    // Not understood, so neither stored nor shown (RFC 7591 §2, §3.2.1).
    expect(registered).not.toHaveProperty("contacts");
    expect(await kv.get(encodeKey(id)).then((e) => e?.string())).not.toContain("contacts");
    await waitFor(() => deps.lookup(id) !== undefined);

    clock.t += 10;
    const read = await readClient(rat, id, deps);
    const rotated = await updateClient(rat, id, JSON.stringify({ ...read, jwks: { keys: [ROTATED] } }), deps);
    expect(rotated).toMatchObject({ client_name: "batch job", jwks: { keys: [ROTATED] }, scope: "read write" });
    const current = await waitFor(async () => {
      const r = await readClient(rat, id, deps);
      return r.updated_at === clock.t ? r : undefined;
    });
    for (const change of [{ client_name: "renamed" }, { scope: "read" }, { audience: [] }, { access_token_ttl: 60 }]) {
      expect(await code(updateClient(rat, id, JSON.stringify({ ...current, ...change }), deps))).toBe("insufficient_scope");
    }

    clock.t += 10;
    const byAdmin = await updateClient(ADMIN_TOKEN, id, JSON.stringify({ ...current, scope: "read" }), deps);
    expect(byAdmin).toMatchObject({ scope: "read", client_name: "batch job", admin_client_id: ADMIN, updated_at: clock.t });
    // The read it took back is stale now: a changed server-set value is refused, not ignored.
    expect(await code(updateClient(ADMIN_TOKEN, id, JSON.stringify({ ...current, scope: "write" }), deps))).toBe("invalid_client_metadata");
  });

  it("keeps no secret for a client moved off client_secret_*, and mints a new one, shown once, when it comes back", async () => {
    const secretClient = { token_endpoint_auth_method: "client_secret_basic", scope: "read", audience: ["storage"] };
    const registered = await registerClient(ADMIN_TOKEN, JSON.stringify(secretClient), deps);
    const id = registered.client_id as string;
    const first = registered.client_secret as string;
    expect(await verifySecret((await storedSecretHash(id)) ?? "", first)).toBe(true);

    clock.t += 10;
    const moved = await updateClient(ADMIN_TOKEN, id, JSON.stringify(METADATA), deps);
    expect([moved.token_endpoint_auth_method, moved.client_secret]).toEqual(["private_key_jwt", undefined]);
    // Nothing in the bucket every replica and sidecar reads verifies the first secret any more.
    expect(await storedSecretHash(id)).toBeUndefined();

    clock.t += 10;
    const back = await updateClient(ADMIN_TOKEN, id, JSON.stringify(secretClient), deps);
    expect(back).toMatchObject({ token_endpoint_auth_method: "client_secret_basic", client_secret: expect.any(String), client_secret_expires_at: 0 });
    const second = back.client_secret as string;
    expect(second).not.toBe(first);
    const hash = (await storedSecretHash(id)) ?? "";
    expect([await verifySecret(hash, second), await verifySecret(hash, first)]).toEqual([true, false]);
  });

  it("never revives a secret a record left by an earlier release keeps while off client_secret_*", async () => {
    const id = `${ADMIN}/stale-secret`;
    const old = "the-secret-it-had-before-0001";
    const stale: ManagedRecord = { ...configClient(id), admin_client_id: ADMIN, audience: ["storage"], scope: ["read"], secret_hash: await hashSecret(old) };
    await putRecord(stale);
    clock.t += 10;
    const back = await updateClient(
      ADMIN_TOKEN,
      id,
      JSON.stringify({ token_endpoint_auth_method: "client_secret_post", scope: "read", audience: ["storage"] }),
      deps,
    );
    expect(back.client_secret).toEqual(expect.any(String));
    const hash = (await storedSecretHash(id)) ?? "";
    expect([await verifySecret(hash, back.client_secret as string), await verifySecret(hash, old)]).toEqual([true, false]);
  });

  it("answers 401 invalid_token for a client that does not exist and for another admin's alike, and changes nothing (RFC 7592 §2.1-2.3)", async () => {
    const otherAdmin = "admin:b";
    await putRecord(configClient(otherAdmin, { audience: ["storage"], scope: ["read"] }));
    const other = depsOf(otherAdmin, "other-admin-token");
    const { client_id: id } = (await registerClient(ADMIN_TOKEN, JSON.stringify(METADATA), deps)) as { client_id: string };
    await waitFor(() => deps.lookup(id) !== undefined);
    const refused = [401, "invalid_token", "no such client for this credential"];
    for (const [caller, clientId] of [
      [other, id],
      [deps, `${ADMIN}/never-registered`],
      [other, `${otherAdmin}/never-registered`],
    ] as const) {
      const token = caller === deps ? ADMIN_TOKEN : "other-admin-token";
      expect(await answer(readClient(token, clientId, caller))).toEqual(refused);
      expect(await answer(updateClient(token, clientId, JSON.stringify({ ...METADATA, scope: "read" }), caller))).toEqual(refused);
      expect(await answer(deleteClient(token, clientId, caller))).toEqual(refused);
    }
    expect((await readClient(ADMIN_TOKEN, id, deps)).scope).toBe("read write");
  });

  it("answers an update or deletion of a client id longer than any client's as one that does not exist, asking NATS nothing (its key would pass NATS's 4 KiB control line)", async () => {
    const asked: string[] = [];
    const observed = { ...deps, kv: askedOf(kv, asked) };
    const refused = [401, "invalid_token", "no such client for this credential"];
    // Encoded, 4,700 characters of key in the request's subject: nats-server would close the connection for it.
    const long = `${ADMIN}/${"x".repeat(3_500)}`;
    expect(await answer(updateClient(ADMIN_TOKEN, long, JSON.stringify(METADATA), observed))).toEqual(refused);
    expect(await answer(deleteClient(ADMIN_TOKEN, long, observed))).toEqual(refused);
    expect(await answer(readClient(ADMIN_TOKEN, long, observed))).toEqual(refused);
    expect(asked).toEqual([]);
    // The longest id a client can have is still looked up in the bucket itself.
    const longest = `${ADMIN}/${"x".repeat(MAX_CLIENT_ID_CHARS - ADMIN.length - 1)}`;
    expect(await answer(deleteClient(ADMIN_TOKEN, longest, observed))).toEqual(refused);
    expect(asked).toEqual(["get"]);
    expect(nats.isConnected()).toBe(true);
  });

  it("refuses metadata past the registration limits as invalid_client_metadata (RFC 7591 §3.2.2), for a client rotating its own keys too", async () => {
    const { clientNameChars, jwksKeys, entries, scopeTemplates } = METADATA_LIMITS;
    const keys = (n: number) => ({ keys: Array.from({ length: n }, (_, i) => ({ ...KEY, kid: `k-${i}` })) });
    const many = (n: number, make: (i: number) => string) => Array.from({ length: n }, (_, i) => make(i));
    const templates = (names: number, patterns: number) => Object.fromEntries(many(names, (i) => `t${i}:`).map((name) => [name, many(patterns, () => "read")]));
    const refusals: Array<[Record<string, unknown>, string]> = [
      [{ token_endpoint_auth_method: "none" }, "token_endpoint_auth_method: none is not supported: every grant here needs an authenticated client"],
      [{ client_name: "n".repeat(clientNameChars + 1) }, `client_name: at most ${clientNameChars} characters`],
      [{ jwks: keys(jwksKeys + 1) }, `jwks: at most ${jwksKeys} keys`],
      [{ scope: many(entries + 1, () => "read") }, `scope: at most ${entries} entries`],
      [{ scope: [`read:/${"d".repeat(256)}`] }, "scope: at most 256 characters each"],
      [{ audience: many(entries + 1, () => "storage") }, `audience: at most ${entries} entries`],
      [
        { access_token_format: Object.fromEntries(many(entries + 1, (i) => `aud-${i}`).map((aud) => [aud, "jwt"])) },
        `access_token_format: at most ${entries} entries`,
      ],
      [{ scope_templates: templates(scopeTemplates + 1, 1) }, `scope_templates: at most ${scopeTemplates} entries`],
      [{ scope_templates: templates(1, entries + 1) }, `scope_templates: at most ${entries} entries`],
    ];
    for (const [change, description] of refusals) {
      expect(await answer(registerClient(ADMIN_TOKEN, JSON.stringify({ ...METADATA, ...change }), deps))).toEqual([
        400,
        "invalid_client_metadata",
        description,
      ]);
    }
    const atLimits = { ...METADATA, client_name: "n".repeat(clientNameChars), jwks: keys(jwksKeys), scope_templates: templates(scopeTemplates, entries) };
    const registered = await registerClient(ADMIN_TOKEN, JSON.stringify(atLimits), deps);
    const id = registered.client_id as string;
    await waitFor(() => deps.lookup(id) !== undefined);
    clock.t += 10;
    const rotation = JSON.stringify({ ...(await readClient(ADMIN_TOKEN, id, deps)), jwks: keys(jwksKeys + 1) });
    expect(await answer(updateClient(registered.registration_access_token as string, id, rotation, deps))).toEqual([
      400,
      "invalid_client_metadata",
      `jwks: at most ${jwksKeys} keys`,
    ]);
  });

  it("refuses metadata naming a member twice, at the top or deeper, as invalid_client_metadata (RFC 8259 §4: read two ways)", async () => {
    const { jwks: _jwks, ...rest } = METADATA;
    const key = JSON.stringify(KEY);
    const twice = [`{"scope":"admin",${JSON.stringify(METADATA).slice(1)}`, `{"jwks":{"keys":[${key}],"keys":[]},${JSON.stringify(rest).slice(1)}`];
    for (const body of twice) {
      expect(await answer(registerClient(ADMIN_TOKEN, body, deps))).toEqual([400, "invalid_client_metadata", "metadata names a member more than once"]);
    }
  });

  it("shows its admin a config-declared client without what seeding stored beside it (seed_digest, seed_revision)", async () => {
    const id = `${ADMIN}/seeded-view`;
    await putRecord({ ...configClient(id), admin_client_id: ADMIN, seed_digest: "digest", seed_revision: 3 });
    await waitFor(() => deps.lookup(id) !== undefined);
    const read = await readClient(ADMIN_TOKEN, id, deps);
    expect([read.client_id, "seed_digest" in read, "seed_revision" in read]).toEqual([id, false, false]);
  });

  it("registers no more clients for an admin than its manages.max_clients, counting neither its config-file clients nor deleted ones", async () => {
    const quotaAdmin = "admin:quota";
    await putRecord(configClient(quotaAdmin, { audience: ["storage"], scope: ["read", "write"] }));
    const asAdmin = { ...depsOf(quotaAdmin, "quota-token"), maxClients: (id: string) => (id === quotaAdmin ? 2 : 1000) };
    // Declared in the config file with it as admin: its operator's, not a registration of its own.
    await putRecord({ ...configClient(`${quotaAdmin}/from-config`), admin_client_id: quotaAdmin, seed_digest: "digest" });
    const register = () => registerClient("quota-token", JSON.stringify(METADATA), asAdmin);
    const first = (await register()).client_id as string;
    await register();
    await waitFor(() => asAdmin.registeredBy(quotaAdmin) === 2);
    expect(await answer(register())).toEqual([
      400,
      "invalid_client_metadata",
      "this admin has registered as many clients as it may (manages.max_clients: 2); delete one first",
    ]);
    // Another admin's registrations are its own to count.
    expect((await registerClient(ADMIN_TOKEN, JSON.stringify(METADATA), deps)).client_id).toEqual(expect.any(String));
    await deleteClient("quota-token", first, asAdmin);
    await waitFor(() => asAdmin.registeredBy(quotaAdmin) === 1);
    expect((await register()).admin_client_id).toBe(quotaAdmin);
  });

  it("answers 403 insufficient_scope to a valid token of a client that is no admin (RFC 6750 §3.1), and to a client deleting itself (RFC 7592 §2.3)", async () => {
    const plain = "plain:c";
    await putRecord(configClient(plain));
    const asPlain = depsOf(plain, "plain-token");
    const registered = await registerClient(ADMIN_TOKEN, JSON.stringify(METADATA), deps);
    const id = registered.client_id as string;
    await waitFor(() => deps.lookup(id) !== undefined);
    const notAdmin = [403, "insufficient_scope", "only admin clients manage clients"];
    expect(await answer(registerClient("plain-token", JSON.stringify(METADATA), asPlain))).toEqual(notAdmin);
    expect(await answer(readClient("plain-token", id, asPlain))).toEqual(notAdmin);
    expect(await answer(updateClient("plain-token", id, JSON.stringify(METADATA), asPlain))).toEqual(notAdmin);
    expect(await answer(deleteClient("plain-token", id, asPlain))).toEqual(notAdmin);
    expect(await answer(deleteClient(registered.registration_access_token as string, id, deps))).toEqual([
      403,
      "insufficient_scope",
      "only the admin deletes a client",
    ]);
    expect(deps.lookup(id)).toBeDefined();
  });

  it("takes an admin's token only when the registration endpoint is its sole audience: another audience could replay it here", async () => {
    const shared = "shared-audience-token";
    const asShared: ManagementDeps = {
      ...deps,
      inspect: (t) =>
        Promise.resolve(t === shared ? ({ client_id: ADMIN, sub: ADMIN, aud: [ENDPOINT, "storage"], jti: "jti-shared" } as AccessTokenClaims) : undefined),
    };
    const before = await clientKeys();
    expect(await answer(registerClient(shared, JSON.stringify(METADATA), asShared))).toEqual([401, "invalid_token", "management credential is invalid"]);
    expect(await clientKeys()).toEqual(before);
  });
  it("refuses to change or delete a client the config file declares (403), so removing its entry still retires it", async () => {
    const id = `${ADMIN}/declared`;
    const registry = new ClientRegistry(
      kv,
      cache,
      () => clock.t,
      () => Promise.resolve(),
    );
    const declared = clientSchema.parse({ ...METADATA, client_id: id, admin_client_id: ADMIN, scope: ["read"] });
    await registry.seed([declared]);
    await waitFor(() => deps.lookup(id)?.seed_digest !== undefined);
    clock.t += 10;
    const refused = [403, "insufficient_scope", "this client is declared in the config file: change or remove it there"];
    expect(await answer(updateClient(ADMIN_TOKEN, id, JSON.stringify({ ...METADATA, scope: "read write" }), deps))).toEqual(refused);
    expect(await answer(deleteClient(ADMIN_TOKEN, id, deps))).toEqual(refused);
    // Its admin may still read it (RFC 7592 §2.1).
    expect((await readClient(ADMIN_TOKEN, id, deps)).scope).toBe("read");
    // Still the file's own record: the operator removing its entry retires it, tokens and all.
    const record = (await kv.get(encodeKey(id)))?.json<ClientRecord>();
    expect([record?.seed_digest, record?.scope]).toEqual([expect.any(String), ["read"]]);
    // The file now declares every other client it declared so far, but not this one.
    const stillDeclared = [...cache.values()]
      .filter((c) => c.seed_digest !== undefined && c.client_id !== id)
      .map((c) => clientSchema.parse({ client_id: c.client_id, client_secret: "only-the-id-matters-here" }));
    const retiredSubjects: string[] = [];
    const retired = await registry.retire(stillDeclared, {
      revokeSubject: (clientId) => {
        retiredSubjects.push(clientId);
        return Promise.resolve();
      },
      events: deps.events,
    });
    expect([retired, retiredSubjects]).toEqual([[id], [id]]);
    await waitFor(() => deps.lookup(id) === undefined, { message: "the retired client is still served" });
  });

  it("registers metadata naming no token_endpoint_auth_method as client_secret_basic, with its secret (RFC 7591 §2 default), or as private_key_jwt when it gives keys", async () => {
    const minimal = await registerClient(ADMIN_TOKEN, JSON.stringify({ scope: "read", audience: ["storage"] }), deps);
    expect(minimal).toMatchObject({ token_endpoint_auth_method: "client_secret_basic", client_secret: expect.any(String), client_secret_expires_at: 0 });
    const id = minimal.client_id as string;
    expect(await verifySecret((await storedSecretHash(id)) ?? "", minimal.client_secret as string)).toBe(true);
    const { token_endpoint_auth_method: _m, ...withKeys } = METADATA;
    const keyed = await registerClient(ADMIN_TOKEN, JSON.stringify(withKeys), deps);
    expect([keyed.token_endpoint_auth_method, keyed.client_secret]).toEqual(["private_key_jwt", undefined]);
    // An admin's update replaces the metadata (RFC 7592 §2.2): naming no method and no keys is the same default, and
    // a client already on client_secret_basic keeps its secret.
    clock.t += 10;
    const updated = await updateClient(ADMIN_TOKEN, id, JSON.stringify({ scope: "read", audience: ["storage"] }), deps);
    expect([updated.token_endpoint_auth_method, updated.client_secret]).toEqual(["client_secret_basic", undefined]);
    expect(await verifySecret((await storedSecretHash(id)) ?? "", minimal.client_secret as string)).toBe(true);
  });
});
