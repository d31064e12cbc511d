/**
 * Seeding config clients into the clients bucket on a real nats-server: what is stored of a secret, when a record is
 * rewritten, and how a client the file no longer declares is retired.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isClientMarker, parseClientRecord, verifySecret } from "@sts/client-auth";
import type { ClientRecord } from "@sts/client-auth";
import { clientSchema } from "@sts/config";
import {
  EVENTS_STREAM,
  EVENT_TYPES,
  EventPublisher,
  KvCache,
  connectNats,
  dropHistory,
  encodeKey,
  ensureEventsStream,
  eventSubject,
  openBucket,
} from "@sts/nats";
import type { NatsHandle, NatsLogger } from "@sts/nats";
import { startNats } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { CONFIG_FILE, ClientRegistry } from "./registry.js";

let server: NatsServerHandle;
let nats: NatsHandle;
let buckets = 0;
/** What the registries' watched copies warned about. */
const warnings: string[] = [];
const warningsLog: NatsLogger = { warn: (_o, msg) => void warnings.push(msg ?? ""), info: () => {}, error: () => {} };

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "registry-test" });
  await ensureEventsStream(nats);
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.stop();
});

/** A registry on a bucket of its own, and how to read a record as stored. */
async function registry(): Promise<{
  registry: ClientRegistry;
  stored: (id: string) => Promise<ClientRecord | undefined>;
  revisions: (id: string) => Promise<number>;
  /** Waits until the watched copy holds `id` (or, with `false`, no longer does). */
  cached: (id: string, present?: boolean) => Promise<void>;
  stop: () => void;
}> {
  const bucket = `registry_test_${++buckets}`;
  // As the issuer's clients bucket keeps them: several revisions per key.
  const kv = await openBucket(nats, bucket, { history: 5 });
  const cache = new KvCache(kv, {
    parse: parseClientRecord,
    absent: isClientMarker,
    invalid: "forget",
    logger: warningsLog,
  });
  await cache.ready();
  const stored = async (id: string) => {
    const entry = await kv.get(encodeKey(id));
    return entry?.operation === "PUT" ? parseClientRecord(entry.json()) : undefined;
  };
  const revisions = async (id: string) => {
    let n = 0;
    for await (const _ of await kv.history({ key: encodeKey(id) })) n++;
    return n;
  };
  return {
    registry: new ClientRegistry(
      kv,
      cache,
      () => 1_800_000_000,
      (key) => dropHistory(nats, bucket, key),
    ),
    stored,
    revisions,
    cached: async (id, present = true) => {
      for (let i = 0; i < 200 && (cache.get(encodeKey(id)) !== undefined) !== present; i++) await new Promise((r) => setTimeout(r, 10));
      expect(cache.get(encodeKey(id)) !== undefined).toBe(present);
    },
    stop: () => cache.stop(),
  };
}

const client = (secret: string, id = "svc-a") => clientSchema.parse({ client_id: id, client_secret: secret, scope: ["a"], audience: ["svc-b"] });

/** The client.deleted events stored for `clientId`. */
async function deletedEvents(clientId: string): Promise<Array<Record<string, unknown>>> {
  const found: Array<Record<string, unknown>> = [];
  const { state } = await nats.jsm.streams.info(EVENTS_STREAM.name);
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const m = await nats.jsm.streams.getMessage(EVENTS_STREAM.name, { seq }).catch(() => null);
    const event = m?.json<{ type: string; data: Record<string, unknown> }>();
    if (event?.type === EVENT_TYPES.CLIENT_DELETED && event.data.client_id === clientId) found.push(event.data);
  }
  return found;
}

describe("seeding a config client with a secret", () => {
  it("stores nothing derived from the secret but its scrypt hash: the digest is the same whatever the secret", async () => {
    const [one, two] = [await registry(), await registry()];
    await one.registry.seed([client("first-secret-0000000001")]);
    await two.registry.seed([client("other-secret-0000000002")]);
    const [a, b] = [await one.stored("svc-a"), await two.stored("svc-a")];
    expect(a?.seed_digest).toBeDefined();
    expect(a?.seed_digest).toBe(b?.seed_digest);
    expect(await verifySecret(a?.secret_hash ?? "", "first-secret-0000000001")).toBe(true);
    one.stop();
    two.stop();
  });

  it("rewrites the record when the secret changed, and only then", async () => {
    const r = await registry();
    expect((await r.registry.seed([client("first-secret-0000000001")])).written).toBe(1);
    const first = await r.stored("svc-a");
    expect((await r.registry.seed([client("first-secret-0000000001")])).written).toBe(0);
    expect((await r.stored("svc-a"))?.secret_hash).toBe(first?.secret_hash);
    expect((await r.registry.seed([client("new-secret-00000000000003")])).written).toBe(1);
    const rewritten = await r.stored("svc-a");
    expect(await verifySecret(rewritten?.secret_hash ?? "", "new-secret-00000000000003")).toBe(true);
    expect(await verifySecret(rewritten?.secret_hash ?? "", "first-secret-0000000001")).toBe(false);
    // The revision before (its digest, the replaced secret's hash) is not kept in the bucket's history.
    expect(await r.revisions("svc-a")).toBe(1);
    r.stop();
  });
});

describe("retiring a client the config file no longer declares", () => {
  const events = () => new EventPublisher(nats, { source: "sts/issuer", retryWindowMs: 500, timeoutMs: 200, retries: 1 });

  it("revokes its id as a subject, stores client.deleted, then deletes the record; a client the file keeps stays", async () => {
    const r = await registry();
    const gone = `gone-${buckets}`;
    await r.registry.seed([client("kept-secret-0000000000001"), client("gone-secret-0000000000001", gone)]);
    await r.cached(gone);
    const revoked: string[] = [];
    const retired = await r.registry.retire([client("kept-secret-0000000000001")], {
      revokeSubject: async (id) => {
        // The record is still there when its tokens are revoked: a failure later leaves it for the next start.
        expect(await r.stored(id)).toBeDefined();
        revoked.push(id);
      },
      events: events(),
    });
    expect(retired).toEqual([gone]);
    expect(revoked).toEqual([gone]);
    expect(await r.stored(gone)).toBeUndefined();
    expect(await r.stored("svc-a")).toBeDefined();
    expect(await deletedEvents(gone)).toEqual([{ client_id: gone, by: CONFIG_FILE }]);
    await r.cached(gone, false);
    // Nothing left to retire: a second start does nothing.
    expect(await r.registry.retire([client("kept-secret-0000000000001")], { revokeSubject: async () => {}, events: events() })).toEqual([]);
    r.stop();
  });

  it("keeps the record when client.deleted cannot be stored, and the next start completes it under the same event id", async () => {
    const r = await registry();
    const gone = `unstored-${buckets}`;
    await r.registry.seed([client("gone-secret-0000000000002", gone)]);
    await r.cached(gone);
    const { config } = await nats.jsm.streams.info(EVENTS_STREAM.name);
    // A real JetStream refusal: the stream no longer takes client.deleted.
    await nats.jsm.streams.update(EVENTS_STREAM.name, {
      subjects: Object.values(EVENT_TYPES)
        .filter((t) => t !== EVENT_TYPES.CLIENT_DELETED)
        .map(eventSubject),
    });
    try {
      await expect(r.registry.retire([], { revokeSubject: async () => {}, events: events() })).rejects.toThrow();
    } finally {
      await nats.jsm.streams.update(EVENTS_STREAM.name, { subjects: config.subjects });
    }
    expect(await r.stored(gone)).toBeDefined();
    expect(await r.registry.retire([], { revokeSubject: async () => {}, events: events() })).toEqual([gone]);
    expect(await r.stored(gone)).toBeUndefined();
    expect(await deletedEvents(gone)).toHaveLength(1);
    r.stop();
  });

  it("leaves a registered (managed) client alone: only seeded records are the file's to retire", async () => {
    const r = await registry();
    const kv = await openBucket(nats, `registry_test_${buckets}`, { history: 5 });
    const { toClientRecord } = await import("./client-records.js");
    const managed = await toClientRecord(client("managed-secret-0000000001", "adm/managed"), { now: 1 });
    await kv.put(encodeKey("adm/managed"), JSON.stringify({ ...managed, admin_client_id: "adm" }));
    await r.cached("adm/managed");
    expect(await r.registry.retire([], { revokeSubject: async () => {}, events: events() })).toEqual([]);
    expect(await r.stored("adm/managed")).toBeDefined();
    r.stop();
  });

  it("leaves a marker that holds an older file's same entry retired; a changed entry (a new secret) brings the client back", async () => {
    const r = await registry();
    const gone = `marked-${buckets}`;
    const before = warnings.length;
    await r.registry.seed([client("leaked-secret-00000000001", gone)]);
    await r.cached(gone);
    expect(await r.registry.retire([], { revokeSubject: async () => {}, events: events() })).toEqual([gone]);
    await r.cached(gone, false);
    // A replica still starting on the older file, which declares the client as it was: nothing comes back.
    expect(await r.registry.seed([client("leaked-secret-00000000001", gone)])).toEqual({ written: 0, keptRetired: [gone] });
    expect(await r.stored(gone)).toBeUndefined();
    expect(r.registry.lookup(gone)).toBeUndefined();
    // The operator declares it again with a new secret: it is seeded afresh, with that secret only.
    expect(await r.registry.seed([client("fresh-secret-000000000001", gone)])).toEqual({ written: 1, keptRetired: [] });
    const back = await r.stored(gone);
    expect([
      await verifySecret(back?.secret_hash ?? "", "fresh-secret-000000000001"),
      await verifySecret(back?.secret_hash ?? "", "leaked-secret-00000000001"),
    ]).toEqual([true, false]);
    await r.cached(gone);
    // The marker was read as no client, not as a bad record to warn about.
    expect(warnings.slice(before)).toEqual([]);
    r.stop();
  });
});
