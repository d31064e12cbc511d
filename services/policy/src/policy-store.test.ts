import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KV } from "@nats-io/kv";
import type { OAuthError } from "@sts/errors";
import type { CallerIdentity } from "@sts/mesh";
import { KvCache, connectNats, encodeKey, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { startNats } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { PolicyStore, configVersion, inForce, parseStoredPolicy, parseWatchedPolicy, resetNeeded } from "./policy-store.js";
import type { KnownVersion, StoredPolicy } from "./policy-store.js";

const dana: CallerIdentity = { credential: "access_token", sub: "dana", client_id: "ops-dana", jti: "j-dana" };
const text = 'permit (principal == Client::"A", action == Action::"exchange", resource == Audience::"B");';

let server: NatsServerHandle;
let nats: NatsHandle;
let kv: KV;
let store: PolicyStore;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "policy-store-test" });
  kv = await openBucket(nats, "test_policies", { owner: true, history: 10 });
  store = new PolicyStore(kv, () => 1_700_000_000);
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.stop();
});

/** The record stored under a policy id, at a revision. */
async function stored(id: string, revision: bigint): Promise<StoredPolicy | undefined> {
  const entry = await kv.get(encodeKey(id), { revision: Number(revision) });
  return entry ? parseStoredPolicy(entry.json()) : undefined;
}

/** The latest version stored under an id, and its revision. */
async function latest(id: string): Promise<[StoredPolicy | undefined, bigint]> {
  const entry = await kv.get(encodeKey(id));
  return [entry ? parseStoredPolicy(entry.json()) : undefined, BigInt(entry?.revision ?? 0)];
}

/** A call's answer, or its refusal as `code: description`. */
function refusal(p: Promise<unknown>): Promise<string> {
  return p.then(String, (err: OAuthError) => `${err.code}: ${err.description}`);
}

/** What the bucket holds under a policy id, tombstones included, as a replica's watched copy gives it to seeding. */
async function known(id: string): Promise<KnownVersion | undefined> {
  const entry = await kv.get(encodeKey(id));
  const value = entry?.operation === "PUT" ? parseStoredPolicy(entry.json()) : undefined;
  return entry && value ? { value, revision: entry.revision } : undefined;
}

describe("PolicyStore", () => {
  it("stores each version written through the API with its author, and a deletion as a tombstone naming who deleted", async () => {
    const put = await store.put({ id: "p1", text, description: "d" }, dana);
    expect(await stored("p1", put)).toEqual({ id: "p1", text, description: "d", source: "api", updated_at: 1_700_000_000, author: dana });
    const breakGlass: CallerIdentity = { credential: "break_glass", sub: "break-glass", client_id: "", jti: "" };
    const deleted = await store.delete("p1", breakGlass, put);
    expect(deleted).toBeGreaterThan(put);
    const tombstone = await stored("p1", deleted);
    expect(tombstone).toMatchObject({ id: "p1", deleted: true, author: breakGlass });
    expect(tombstone && inForce(tombstone)).toBe(false);
  });

  it("seeds a config policy once, keeps a version written through the API, and keeps a deletion through the API", async () => {
    const seeded = { id: "hop", text, description: "seed" };
    // As the service seeds: against what the bucket holds under the id, tombstones included.
    const current = async (): Promise<StoredPolicy | undefined> => parseStoredPolicy((await kv.get(encodeKey("hop")))?.json());
    const seed = async (policy = seeded): Promise<{ written: number; keptDeleted: string[]; keptNewer: string[] }> => {
      const existing = await known("hop");
      return store.seed([policy], () => existing);
    };
    expect(await seed()).toEqual({ written: 1, keptDeleted: [], keptNewer: [] });
    expect(await seed()).toEqual({ written: 0, keptDeleted: [], keptNewer: [] });
    // A changed config file updates a policy that only the config ever wrote.
    expect(await seed({ ...seeded, text: `${text}\n// changed` })).toEqual({ written: 1, keptDeleted: [], keptNewer: [] });
    await store.put({ ...seeded, description: "edited" }, dana);
    expect(await seed()).toEqual({ written: 0, keptDeleted: [], keptNewer: [] });
    expect(await current()).toMatchObject({ description: "edited", author: dana });
    await store.delete("hop", dana, BigInt((await kv.get(encodeKey("hop")))?.revision ?? 0));
    // The operator's deletion is the last word: the next start leaves the tombstone, whatever the config says now.
    expect(await seed()).toEqual({ written: 0, keptDeleted: ["hop"], keptNewer: [] });
    expect(await seed({ ...seeded, text: `${text}\n` })).toEqual({ written: 0, keptDeleted: ["hop"], keptNewer: [] });
    expect(await current()).toMatchObject({ deleted: true, author: dana });
  });

  it("deletes only the version it was given: a newer version or a tombstone makes it invalid_request", async () => {
    const first = await store.put({ id: "p2", text, description: "" }, dana);
    const second = await store.put({ id: "p2", text, description: "newer" }, dana);
    expect(await refusal(store.delete("p2", dana, first))).toBe(`invalid_request: the policy changed since revision ${first}; Get it again`);
    expect(await stored("p2", second)).toMatchObject({ description: "newer" });
    const deleted = await store.delete("p2", dana, second);
    expect(await refusal(store.delete("p2", dana, second))).toBe(`invalid_request: the policy changed since revision ${second}; Get it again`);
    expect((await kv.get(encodeKey("p2")))?.revision).toBe(Number(deleted));
  });

  it("reads an author only when it is well formed, and older records without one", () => {
    const base = { id: "p", text };
    expect(parseStoredPolicy(base)).toEqual({ id: "p", text, description: "", source: "api", updated_at: 0 });
    expect(parseStoredPolicy({ ...base, author: { credential: "password", sub: "x", client_id: "", jti: "" } })?.author).toBeUndefined();
    expect(parseStoredPolicy({ ...base, author: { ...dana, jti: 7 } })?.author).toBeUndefined();
    expect(parseStoredPolicy({ ...base, author: { ...dana, extra: "dropped" } })?.author).toEqual(dana);
    expect(parseStoredPolicy({ ...base, deleted: "yes" })?.deleted).toBeUndefined();
  });
});

describe("parseWatchedPolicy", () => {
  it("keeps a record that is no stored policy as an unreadable marker, in force nowhere, rather than leaving it out", () => {
    expect(parseWatchedPolicy({ id: "p", text })).toEqual(parseStoredPolicy({ id: "p", text }));
    for (const raw of [{ id: "freeze", statements: [text] }, { id: "freeze", text: 7 }, null, "forbid", [text]]) {
      const marker = parseWatchedPolicy(raw);
      expect(marker, JSON.stringify(raw)).toMatchObject({ id: "", unreadable: true });
      expect(inForce(marker)).toBe(false);
    }
  });
});

describe("parseStoredPolicy given the key it was read from", () => {
  it("reads a record under its own id's key, and refuses one under another's", () => {
    const record = { id: "hop/a/b/exchange", text };
    expect(parseStoredPolicy(record, encodeKey("hop/a/b/exchange"))).toMatchObject(record);
    expect(parseStoredPolicy(record, encodeKey("hop/a/c/exchange"))).toBeUndefined();
    expect(parseStoredPolicy(record, "hop/a/b/exchange")).toBeUndefined();
  });
});

describe("resetNeeded: whether Reset has anything to write", () => {
  const declared = { id: "hop/a/b/exchange", text, description: "Config hop: a → b" };
  const current = configVersion(declared, 1);
  const cases: Array<[string, StoredPolicy | undefined, boolean]> = [
    ["nothing stored under the id", undefined, true],
    ["the config file's version, as seeded", current, false],
    ["the config file's version, as an earlier Reset stored it", { ...current, author: dana, change: "reset" }, false],
    ["an operator's tombstone", { ...current, source: "api", text: "", description: "", deleted: true, author: dana }, true],
    ["an operator's copy of the config text, which later config edits would not reach", { ...current, source: "api", author: dana }, true],
    ["an operator's replacement", { ...declared, text: `${text}\n// narrower`, source: "api", updated_at: 1, author: dana }, true],
    ["an older config version (the file changed since it was seeded)", configVersion({ ...declared, text: `${text}\n// older` }, 1), true],
    ["the config text under another description", { ...current, description: "older wording" }, true],
    ["the config text without the digest the next start compares", { ...current, seed_digest: "stale" }, true],
    ["a config-source tombstone", { ...current, deleted: true }, true],
  ];
  for (const [what, stored, needed] of cases) {
    it(`${needed ? "writes" : "writes nothing"} over ${what}`, () => {
      expect(resetNeeded(stored, declared)).toBe(needed);
    });
  }
});

describe("PolicyStore.reset", () => {
  it("hands a deleted config policy back to the config file: a new version, config-managed, naming who reset it; the tombstone stays in history", async () => {
    const declared = { id: "hop/reset-deleted", text, description: "seed" };
    await store.seed([declared], () => undefined);
    const deleted = await store.delete(declared.id, dana, (await latest(declared.id))[1]);
    const tombstone = await known(declared.id);
    expect(await store.seed([declared], () => tombstone)).toEqual({ written: 0, keptDeleted: [declared.id], keptNewer: [] });

    const reset = await store.reset(declared, dana);
    expect(reset.changed).toBe(true);
    expect(reset.revision).toBeGreaterThan(deleted);
    const [stored] = await latest(declared.id);
    expect(stored).toEqual({ ...configVersion(declared, 1_700_000_000), author: dana, change: "reset" });
    expect(stored && inForce(stored)).toBe(true);
    // The next start sees a config version of the file's text: nothing to seed, nothing kept deleted.
    const restored = await known(declared.id);
    expect(await store.seed([declared], () => restored)).toEqual({ written: 0, keptDeleted: [], keptNewer: [] });
    const history: Array<StoredPolicy | undefined> = [];
    for await (const e of await kv.history({ key: encodeKey(declared.id) })) history.push(parseStoredPolicy(e.json()));
    expect(history.map((v) => (v?.deleted ? "tombstone" : (v?.change ?? v?.source)))).toEqual(["config", "tombstone", "reset"]);
  });

  it("rewrites another id's record stored under the id's key (written around the service), even one holding the config text", async () => {
    const declared = { id: "hop/reset-misfiled", text, description: "seed" };
    // What the config file's version would be, but naming another policy: it is not this id's policy.
    const written = await kv.put(encodeKey(declared.id), JSON.stringify({ ...configVersion(declared, 1), id: "hop/elsewhere" }));
    const reset = await store.reset(declared, dana);
    expect(reset).toEqual({ revision: reset.revision, changed: true });
    expect(reset.revision).toBeGreaterThan(written);
    expect((await latest(declared.id))[0]).toMatchObject({ id: declared.id, source: "config", change: "reset" });
  });

  it("writes nothing over the config file's own version, and answers with its revision", async () => {
    const declared = { id: "hop/reset-twice", text, description: "seed" };
    await store.put({ ...declared, text: `${text}\n// operator's` }, dana);
    const first = await store.reset(declared, dana);
    expect(first.changed).toBe(true);
    expect(await store.reset(declared, dana)).toEqual({ revision: first.revision, changed: false });
    expect((await latest(declared.id))[1]).toBe(first.revision);
  });

  it("leaves the reset version to the config file: the next start rewrites it when the hop changed, not when it did not", async () => {
    const declared = { id: "hop/reset-follows", text, description: "seed" };
    await store.put({ ...declared, description: "operator's" }, dana);
    await store.reset(declared, dana);
    const seed = async (policy: typeof declared): Promise<number> => {
      const existing = await known(declared.id);
      return (await store.seed([policy], () => existing)).written;
    };
    expect(await seed(declared)).toBe(0);
    const narrower = { ...declared, text: `${text}\n// narrower`, description: "narrower" };
    expect(await seed(narrower)).toBe(1);
    expect((await latest(declared.id))[0]).toEqual(configVersion(narrower, 1_700_000_000));
  });

  it("refuses a stale expected revision as Put does, writing nothing, and writes over the expected one", async () => {
    const declared = { id: "hop/reset-expected", text, description: "seed" };
    const older = await store.put({ ...declared, description: "first" }, dana);
    const newer = await store.put({ ...declared, description: "second" }, dana);
    const stale = `invalid_request: the policy changed since revision ${older}; Get it again`;
    expect(await refusal(store.put({ ...declared, description: "third" }, dana, older))).toBe(stale);
    expect(await refusal(store.reset(declared, dana, older))).toBe(stale);
    expect(await latest(declared.id)).toEqual([expect.objectContaining({ description: "second" }), newer]);
    const reset = await store.reset(declared, dana, newer);
    expect(reset.changed).toBe(true);
    // Nothing to write, but the caller's revision is stale: the same refusal, not an OK over a state it did not see.
    expect(await refusal(store.reset(declared, dana, newer))).toBe(`invalid_request: the policy changed since revision ${newer}; Get it again`);
    expect(await store.reset(declared, dana, reset.revision)).toEqual({ revision: reset.revision, changed: false });
  });

  it.each([
    ["over an operator's version", "update", true],
    ["under an id that held nothing", "create", false],
  ] as const)("decides again when another write lands between its read and its write %s, never overwriting it unseen", async (_, method, putFirst) => {
    const declared = { id: `hop/reset-raced-${method}`, text, description: "seed" };
    if (putFirst) await store.put({ ...declared, description: "operator's" }, dana);
    // Another replica's Reset stores the config version just after this one read what was there.
    let raced = false;
    const racing = new Proxy(kv, {
      get(target, prop, receiver) {
        if (prop !== method) return Reflect.get(target, prop, receiver) as unknown;
        return async (key: string, ...rest: unknown[]) => {
          if (!raced) {
            raced = true;
            await target.put(key, JSON.stringify({ ...configVersion(declared, 1_700_000_000), author: dana, change: "reset" }));
          }
          return (target[method] as (key: string, ...args: unknown[]) => Promise<number>).call(target, key, ...rest);
        };
      },
    });
    const outcome = await new PolicyStore(racing, () => 1_700_000_000).reset(declared, dana);
    expect(raced).toBe(true);
    // The other write already is the config version: nothing more is written.
    const [, revision] = await latest(declared.id);
    expect(outcome).toEqual({ revision, changed: false });
  });

  it("stores the config version under an id that holds nothing", async () => {
    const declared = { id: "hop/reset-absent", text, description: "seed" };
    const reset = await store.reset(declared, dana);
    expect(reset.changed).toBe(true);
    expect(await latest(declared.id)).toEqual([{ ...configVersion(declared, 1_700_000_000), author: dana, change: "reset" }, reset.revision]);
  });
});

describe("PolicyStore.seed racing another replica's write", () => {
  const declared = (id: string): { id: string; text: string; description: string } => ({ id, text, description: "seed" });
  /** The file's hop as the next release's config file has it: changed since the config version was seeded. */
  const changed = (id: string): { id: string; text: string; description: string } => ({ ...declared(id), text: `${text}\n// narrower` });

  /**
   * What a starting replica's watched copy holds under `id` once it is ready, as main.ts reads it; then, before
   * seeding writes, `meanwhile` runs (another replica's write), which the copy taken has not seen.
   */
  async function seedFromCopyTakenBefore(
    id: string,
    meanwhile: () => Promise<unknown>,
  ): Promise<{ written: number; keptDeleted: string[]; keptNewer: string[] }> {
    const cache = new KvCache(kv, { parse: parseStoredPolicy, invalid: "keep-previous" });
    let copy: KnownVersion | undefined;
    try {
      await cache.ready();
      copy = cache.entry(encodeKey(id));
    } finally {
      cache.stop();
    }
    await meanwhile();
    return store.seed([changed(id)], () => copy);
  }

  it.each([
    ["Delete over the config version the file has since changed", true, "delete"],
    ["Put over the config version the file has since changed", true, "put"],
    ["Put of a hop new to the config file", false, "put"],
    ["Delete of a hop new to the config file, Put just before", false, "delete"],
  ] as const)("keeps an operator's %s, landing between the copy read and the write: the operator's word stays", async (_, seededBefore, change) => {
    const id = `hop/seed-raced-${change}-${seededBefore ? "config" : "new"}`;
    if (seededBefore) await store.seed([declared(id)], () => undefined);
    const [, before] = await latest(id);
    const operator = async (): Promise<bigint> => {
      if (change === "put") return store.put({ ...declared(id), description: "operator's" }, dana);
      const put = seededBefore ? before : await store.put({ ...declared(id), description: "operator's" }, dana);
      return store.delete(id, dana, put);
    };
    let operatorsRevision = 0n;
    const outcome = await seedFromCopyTakenBefore(id, async () => (operatorsRevision = await operator()));
    expect(outcome).toEqual({ written: 0, keptDeleted: change === "delete" ? [id] : [], keptNewer: [] });
    const [stored, revision] = await latest(id);
    expect(revision).toBe(operatorsRevision);
    expect(stored).toMatchObject(
      change === "delete" ? { deleted: true, source: "api", author: dana } : { description: "operator's", source: "api", author: dana },
    );
  });

  it("writes the config version once when another replica seeded it meanwhile, and over what holds no policy of the id", async () => {
    const id = "hop/seed-raced-replica";
    await store.seed([declared(id)], () => undefined);
    // Another replica, started with the same new config file, seeded first.
    const other = new PolicyStore(kv, () => 1_600_000_000);
    expect(await seedFromCopyTakenBefore(id, () => other.seed([changed(id)], () => undefined))).toEqual({ written: 0, keptDeleted: [], keptNewer: [] });
    const [seeded] = await latest(id);
    expect(seeded).toEqual(configVersion(changed(id), 1_600_000_000));

    // Another id's record written around the service under this id's key: no policy of this id, so the file's is stored.
    const misfiled = "hop/seed-raced-misfiled";
    await store.seed([declared(misfiled)], () => undefined);
    const around = async (): Promise<number> => kv.put(encodeKey(misfiled), JSON.stringify({ ...configVersion(changed(misfiled), 1), id: "hop/elsewhere" }));
    expect(await seedFromCopyTakenBefore(misfiled, around)).toEqual({ written: 1, keptDeleted: [], keptNewer: [] });
    expect((await latest(misfiled))[0]).toEqual(configVersion(changed(misfiled), 1_700_000_000));
  });

  it("stops, naming the policy, when other replicas' config versions keep landing between its read and its write", async () => {
    const id = "hop/seed-raced-endlessly";
    // A replica still on an older config file seeds its own version just before each of this one's writes.
    let older = 0;
    const racing = new Proxy(kv, {
      get(target, prop, receiver) {
        if (prop !== "create" && prop !== "update") return Reflect.get(target, prop, receiver) as unknown;
        return async (key: string, ...rest: unknown[]) => {
          await target.put(key, JSON.stringify(configVersion({ ...declared(id), text: `${text}\n// older ${++older}` }, 1)));
          return (target[prop] as (key: string, ...args: unknown[]) => Promise<number>).call(target, key, ...rest);
        };
      },
    });
    expect(await refusal(new PolicyStore(racing, () => 1_700_000_000).seed([changed(id)], () => undefined))).toBe(
      `temporarily_unavailable: the policy ${id} kept changing while it was seeded; start again`,
    );
    expect((await latest(id))[0]).toMatchObject({ source: "config", updated_at: 1, text: `${text}\n// older 3` });
  });
});

describe("PolicyStore.retireUndeclared", () => {
  /** What the bucket holds under these ids, by key, as a replica's watched copy gives it to the start. */
  const copyOf = async (ids: readonly string[]): Promise<Array<[string, KnownVersion]>> => {
    const out: Array<[string, KnownVersion]> = [];
    for (const id of ids) {
      const k = await known(id);
      if (k) out.push([encodeKey(id), k]);
    }
    return out;
  };

  it("retires a config hop's policy the file no longer declares, never an operator's version, and keeps it retired when a file declares it again", async () => {
    const dropped = { id: "hop/retire/dropped", text, description: "seed" };
    const emptied = { id: "hop/retire/emptied-scopes", text, description: "seed" };
    const edited = { id: "hop/retire/edited", text, description: "seed" };
    const deleted = { id: "hop/retire/deleted", text, description: "seed" };
    const kept = { id: "hop/retire/kept", text, description: "seed" };
    const ids = [dropped, emptied, edited, deleted, kept].map((p) => p.id);
    await store.seed([dropped, emptied, edited, deleted, kept], () => undefined);
    await store.put({ ...edited, description: "operator's" }, dana);
    await store.delete(deleted.id, dana, (await latest(deleted.id))[1]);

    // The file now declares only `kept`: the two policies it manages and dropped go; operators' versions stay.
    const { retired } = await store.retireUndeclared(new Set([kept.id]), await copyOf(ids));
    expect(retired.sort()).toEqual([dropped.id, emptied.id]);
    for (const id of [dropped.id, emptied.id]) {
      const [now] = await latest(id);
      expect(now).toEqual({ id, text: "", description: "", source: "config", updated_at: 1_700_000_000, deleted: true });
      expect(now && inForce(now)).toBe(false);
    }
    expect((await latest(edited.id))[0]).toMatchObject({ description: "operator's", source: "api", author: dana });
    expect((await latest(deleted.id))[0]).toMatchObject({ deleted: true, source: "api", author: dana });
    expect((await latest(kept.id))[0]).toMatchObject({ source: "config", text });
    // Nothing more to retire on the next start.
    expect(await store.retireUndeclared(new Set([kept.id]), await copyOf(ids))).toEqual({ retired: [], keptNewer: [] });

    // Declared again (a replica started on an older file), a hop the file dropped stays retired, as one an operator
    // deleted stays deleted: Reset hands either back.
    const before = await known(dropped.id);
    expect(await store.seed([dropped], () => before)).toEqual({ written: 0, keptDeleted: [dropped.id], keptNewer: [] });
    expect((await latest(dropped.id))[0]).toMatchObject({ source: "config", deleted: true });
    const tombstone = await known(deleted.id);
    expect(await store.seed([deleted], () => tombstone)).toEqual({ written: 0, keptDeleted: [deleted.id], keptNewer: [] });
  });

  it("decides again when an operator's Put landed after the copy was read, and leaves that Put alone", async () => {
    const policy = { id: "hop/retire/raced", text, description: "seed" };
    await store.seed([policy], () => undefined);
    const lagging = await copyOf([policy.id]);
    const put = await store.put({ ...policy, description: "operator's, just now" }, dana);
    expect(await store.retireUndeclared(new Set(), lagging)).toEqual({ retired: [], keptNewer: [] });
    expect(await latest(policy.id)).toEqual([expect.objectContaining({ description: "operator's, just now", source: "api" }), put]);
  });
});

describe("config_revision across replicas of a rolling deploy", () => {
  const atRevision = (revision: number) => new PolicyStore(kv, () => 1_700_000_000, revision);
  const copyOfOne = async (id: string): Promise<Array<[string, KnownVersion]>> => {
    const k = await known(id);
    return k ? [[encodeKey(id), k]] : [];
  };

  it("an older file neither retires a hop a newer one added nor writes back one it changed; at its own revision or above, as before", async () => {
    const added = { id: "hop/revision/added", text, description: "seed" };
    const changed = { id: "hop/revision/changed", text, description: "seed" };
    await atRevision(1).seed([changed], () => undefined);
    // The newer file (revision 2) adds one hop and changes another.
    const newer = atRevision(2);
    expect(await newer.seed([added], () => undefined)).toMatchObject({ written: 1 });
    const changedNow = await known(changed.id);
    expect(await newer.seed([{ ...changed, text: `${text}\n// v2` }], () => changedNow)).toMatchObject({ written: 1 });
    expect((await latest(changed.id))[0]).toMatchObject({ text: `${text}\n// v2`, seed_revision: 2 });

    // A replica restarted on the older file (revision 1): the added hop stays in force, the changed one as revision 2 wrote it.
    const older = atRevision(1);
    expect(await older.retireUndeclared(new Set([changed.id]), await copyOfOne(added.id))).toEqual({ retired: [], keptNewer: [added.id] });
    expect((await latest(added.id))[0]).toMatchObject({ source: "config", seed_revision: 2 });
    expect(inForce((await latest(added.id))[0] as StoredPolicy)).toBe(true);
    const before = await known(changed.id);
    expect(await older.seed([changed], () => before)).toEqual({ written: 0, keptDeleted: [], keptNewer: [changed.id] });
    expect((await latest(changed.id))[0]).toMatchObject({ text: `${text}\n// v2` });

    // A file of revision 3 without the added hop retires it, and its tombstone says which revision did.
    expect(await atRevision(3).retireUndeclared(new Set(), await copyOfOne(added.id))).toEqual({ retired: [added.id], keptNewer: [] });
    expect((await latest(added.id))[0]).toMatchObject({ deleted: true, source: "config", seed_revision: 3 });
  });
});
