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
import { parseClientRecord } from "@sts/client-auth";
import type { ClientRecord } from "@sts/client-auth";
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
import type { ManagementDeps } from "./client-management.js";

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
    expect(await code(readClient(ADMIN_TOKEN, id, deps))).toBe("unauthorized_client");
    expect(await code(updateClient(ADMIN_TOKEN, id, JSON.stringify(METADATA), deps))).toBe("unauthorized_client");

    await deleteClient(ADMIN_TOKEN, id, deps);
    // The tokens were revoked by the first call; the retry only records the deletion and clears its key.
    expect(revoked).toEqual([id]);
    const events = await stored(EVENT_TYPES.CLIENT_DELETED, id);
    expect(events.map((e) => e.data)).toEqual([{ client_id: id, by: ADMIN }]);
    expect(idsTried(EVENT_TYPES.CLIENT_DELETED)).toEqual([events[0]?.id, events[0]?.id]);
    expect(await clientKeys()).not.toContain(id);
    expect(await code(deleteClient(ADMIN_TOKEN, id, deps))).toBe("unauthorized_client");
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
      expect(await code(updateClient(rat, id, JSON.stringify({ ...current, ...change }), deps))).toBe("unauthorized_client");
    }

    clock.t += 10;
    const byAdmin = await updateClient(ADMIN_TOKEN, id, JSON.stringify({ ...current, scope: "read" }), deps);
    expect(byAdmin).toMatchObject({ scope: "read", client_name: "batch job", admin_client_id: ADMIN, updated_at: clock.t });
    // The read it took back is stale now: a changed server-set value is refused, not ignored.
    expect(await code(updateClient(ADMIN_TOKEN, id, JSON.stringify({ ...current, scope: "write" }), deps))).toBe("invalid_client_metadata");
  });
});
