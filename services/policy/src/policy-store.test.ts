import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KV } from "@nats-io/kv";
import type { OAuthError } from "@sts/errors";
import type { CallerIdentity } from "@sts/mesh";
import { connectNats, encodeKey, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { startNats } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { PolicyStore, inForce, parseStoredPolicy } from "./policy-store.js";
import type { StoredPolicy } from "./policy-store.js";

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
    const seed = async (policy = seeded): Promise<{ written: number; keptDeleted: string[] }> => {
      const existing = await current();
      return store.seed([policy], () => existing);
    };
    expect(await seed()).toEqual({ written: 1, keptDeleted: [] });
    expect(await seed()).toEqual({ written: 0, keptDeleted: [] });
    // A changed config file updates a policy that only the config ever wrote.
    expect(await seed({ ...seeded, text: `${text}\n// changed` })).toEqual({ written: 1, keptDeleted: [] });
    await store.put({ ...seeded, description: "edited" }, dana);
    expect(await seed()).toEqual({ written: 0, keptDeleted: [] });
    expect(await current()).toMatchObject({ description: "edited", author: dana });
    await store.delete("hop", dana, BigInt((await kv.get(encodeKey("hop")))?.revision ?? 0));
    // The operator's deletion is the last word: the next start leaves the tombstone, whatever the config says now.
    expect(await seed()).toEqual({ written: 0, keptDeleted: ["hop"] });
    expect(await seed({ ...seeded, text: `${text}\n` })).toEqual({ written: 0, keptDeleted: ["hop"] });
    expect(await current()).toMatchObject({ deleted: true, author: dana });
  });

  it("deletes only the version it was given: a newer version or a tombstone makes it invalid_request", async () => {
    const first = await store.put({ id: "p2", text, description: "" }, dana);
    const second = await store.put({ id: "p2", text, description: "newer" }, dana);
    const refusal = (p: Promise<unknown>): Promise<string> => p.then(String, (err: OAuthError) => `${err.code}: ${err.description}`);
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
