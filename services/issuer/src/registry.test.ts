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
import type { KV } from "@nats-io/kv";
import { startNats } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { CONFIG_FILE, ClientRegistry } from "./registry.js";
import type { NewerEntry } from "./registry.js";

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

/**
 * A registry on a bucket of its own (or on `on`'s: another replica), on a config file of revision `revision`, and how
 * to read a record as stored.
 */
async function registry(options: { on?: string; revision?: number; kv?: (kv: KV) => KV } = {}): Promise<{
  bucket: string;
  registry: ClientRegistry;
  stored: (id: string) => Promise<ClientRecord | undefined>;
  revisions: (id: string) => Promise<number>;
  /** Waits until the watched copy holds `id` (or, with `false`, no longer does). */
  cached: (id: string, present?: boolean) => Promise<void>;
  stop: () => void;
}> {
  const bucket = options.on ?? `registry_test_${++buckets}`;
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
    bucket,
    registry: new ClientRegistry(
      options.kv?.(kv) ?? kv,
      cache,
      () => 1_800_000_000,
      (key) => dropHistory(nats, bucket, key),
      options.revision,
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
    expect(await r.registry.seed([client("leaked-secret-00000000001", gone)])).toEqual({ written: 0, keptRetired: [gone], keptNewer: [] });
    expect(await r.stored(gone)).toBeUndefined();
    expect(r.registry.lookup(gone)).toBeUndefined();
    // The operator declares it again with a new secret: it is seeded afresh, with that secret only.
    expect(await r.registry.seed([client("fresh-secret-000000000001", gone)])).toEqual({ written: 1, keptRetired: [], keptNewer: [] });
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

describe("config revisions: a replica on an older config file does not undo what a newer one wrote", () => {
  const events = () => new EventPublisher(nats, { source: "sts/issuer", retryWindowMs: 500, timeoutMs: 200, retries: 1 });
  /** What the bucket holds under `id`, record or marker, as JSON. */
  const raw = async (bucket: string, id: string) =>
    (await (await openBucket(nats, bucket, { history: 5 })).get(encodeKey(id)))?.json<Record<string, unknown>>();

  it("leaves a client a newer file added: not revoked, no client.deleted, its record untouched, and says which and from what revision", async () => {
    const newer = await registry({ revision: 2 });
    const older = await registry({ on: newer.bucket, revision: 1 });
    const added = `added-${buckets}`;
    await newer.registry.seed([client("kept-secret-0000000000001"), client("added-secret-000000000001", added)]);
    const before = await raw(newer.bucket, added);
    await older.cached(added);
    const [revoked, left]: [string[], NewerEntry[]] = [[], []];
    const retired = await older.registry.retire([client("kept-secret-0000000000001")], {
      revokeSubject: async (id) => void revoked.push(id),
      events: events(),
      onNewer: (entry) => void left.push(entry),
    });
    expect([retired, left]).toEqual([[], [{ client_id: added, seed_revision: 2 }]]);
    expect(revoked).toEqual([]);
    expect(await deletedEvents(added)).toEqual([]);
    expect(await raw(newer.bucket, added)).toEqual(before);
    expect(before?.seed_revision).toBe(2);
    newer.stop();
    older.stop();
  });

  it("does not write back an older entry over a newer file's record, nor bring back a client a newer file retired", async () => {
    const newer = await registry({ revision: 2 });
    const older = await registry({ on: newer.bucket, revision: 1 });
    const changed = `changed-${buckets}`;
    const removed = `removed-${buckets}`;
    // The older file's entries, as the older replicas seeded them; then the newer file changes one secret and drops the other.
    await older.registry.seed([client("old-secret-00000000000001", changed), client("old-secret-00000000000002", removed)]);
    await newer.registry.seed([client("new-secret-00000000000001", changed)]);
    await newer.cached(removed);
    expect(await newer.registry.retire([client("new-secret-00000000000001", changed)], { revokeSubject: async () => {}, events: events() })).toEqual([removed]);
    // A replica on the older file restarts; its removed entry changed too (a rotated secret the newer file dropped).
    const seeding = await older.registry.seed([client("old-secret-00000000000001", changed), client("rotated-secret-000000002", removed)]);
    expect(seeding).toEqual({
      written: 0,
      keptRetired: [],
      keptNewer: [
        { client_id: changed, seed_revision: 2 },
        { client_id: removed, seed_revision: 2 },
      ],
    });
    const record = await older.stored(changed);
    expect([await verifySecret(record?.secret_hash ?? "", "new-secret-00000000000001"), record?.seed_revision]).toEqual([true, 2]);
    expect(await older.stored(removed)).toBeUndefined();
    newer.stop();
    older.stop();
  });

  it("retires a client seeded by a lower revision, as without revisions, and marks the retirement with its own", async () => {
    const older = await registry({ revision: 1 });
    const newer = await registry({ on: older.bucket, revision: 2 });
    const dropped = `dropped-${buckets}`;
    await older.registry.seed([client("dropped-secret-0000000001", dropped)]);
    await newer.cached(dropped);
    const [revoked, left]: [string[], NewerEntry[]] = [[], []];
    const retired = await newer.registry.retire([], {
      revokeSubject: async (id) => void revoked.push(id),
      events: events(),
      onNewer: (entry) => void left.push(entry),
    });
    expect([retired, revoked, left]).toEqual([[dropped], [dropped], []]);
    expect(await deletedEvents(dropped)).toEqual([{ client_id: dropped, by: CONFIG_FILE }]);
    expect((await raw(older.bucket, dropped))?.retired).toMatchObject({ client_id: dropped, seed_revision: 2 });
    // The same revision again (a sibling replica on the newer file) rewrites records of lower ones as before.
    expect((await newer.registry.seed([client("dropped-secret-0000000002", dropped)])).written).toBe(1);
    newer.stop();
    older.stop();
  });

  it("decides on what the bucket holds at write time: a newer replica's write between the read and the write wins", async () => {
    const legacy = await registry();
    const newer = await registry({ on: legacy.bucket, revision: 2 });
    const raced = `raced-${buckets}`;
    // Written before revisions existed (revision 0); both files change it.
    await legacy.registry.seed([client("legacy-secret-00000000001", raced)]);
    let race = true;
    // The older replica reads the key; before it writes, the newer replica starting at the same moment seeds its entry.
    const older = await registry({
      on: legacy.bucket,
      revision: 1,
      kv: (kv) =>
        new Proxy(kv, {
          get: (target, prop) => {
            if (prop === "get") {
              return async (...args: Parameters<KV["get"]>) => {
                const entry = await target.get(...args);
                if (race) {
                  race = false;
                  await newer.registry.seed([client("newer-secret-000000000001", raced)]);
                }
                return entry;
              };
            }
            const value: unknown = Reflect.get(target, prop, target);
            return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
          },
        }),
    });
    expect(await older.registry.seed([client("older-secret-000000000001", raced)])).toEqual({
      written: 0,
      keptRetired: [],
      keptNewer: [{ client_id: raced, seed_revision: 2 }],
    });
    expect(race).toBe(false);
    const record = await older.stored(raced);
    expect([await verifySecret(record?.secret_hash ?? "", "newer-secret-000000000001"), record?.seed_revision]).toEqual([true, 2]);
    for (const r of [legacy, newer, older]) r.stop();
  });

  it("seeds, at its revision, over a key whose last write is a delete (a registered client's, deleted)", async () => {
    const r = await registry({ revision: 3 });
    const reused = `reused-${buckets}`;
    const kv = await openBucket(nats, r.bucket, { history: 5 });
    await kv.put(encodeKey(reused), JSON.stringify({ deleted: { client_id: reused, admin_client_id: "adm", event_id: "e" } }));
    await kv.delete(encodeKey(reused));
    expect((await r.registry.seed([client("reused-secret-00000000001", reused)])).written).toBe(1);
    expect((await r.stored(reused))?.seed_revision).toBe(3);
    r.stop();
  });

  it("writes no revision into records while every file is at revision 0", async () => {
    const r = await registry();
    const plain = `plain-${buckets}`;
    await r.registry.seed([client("plain-secret-000000000001", plain)]);
    expect(await raw(r.bucket, plain)).not.toHaveProperty("seed_revision");
    await r.cached(plain);
    await r.registry.retire([], { revokeSubject: async () => {}, events: events() });
    expect((await raw(r.bucket, plain))?.retired).not.toHaveProperty("seed_revision");
    r.stop();
  });
});
