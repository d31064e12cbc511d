/** Bucket ownership against a real nats-server: the owner's settings win, readers impose none. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNats } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { openBucket } from "./buckets.js";
import { connectNats } from "./connection.js";
import type { NatsHandle } from "./connection.js";

let server: NatsServerHandle;
let nats: NatsHandle;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "buckets-test" });
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.stop();
});

const streamConfig = async (bucket: string) => (await nats.jsm.streams.info(`KV_${bucket}`)).config;
const NS_PER_MS = 1_000_000;

/** A logger that keeps what it was told. */
function recordingLogger() {
  const lines: Array<{ level: string; obj: object; msg?: string }> = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, ...(msg !== undefined && { msg }) });
  return { lines, logger: { info: at("info"), warn: at("warn"), error: at("error") } };
}

describe("openBucket", () => {
  it("brings an existing bucket to its owner's max age and history, and logs the change", async () => {
    await openBucket(nats, "own_ttl", { history: 1, ttlMs: 60_000 });
    expect((await streamConfig("own_ttl")).max_age).toBe(60_000 * NS_PER_MS);
    const { lines, logger } = recordingLogger();
    const kv = await openBucket(nats, "own_ttl", { history: 3, ttlMs: 3_600_000, owner: true, logger });
    const config = await streamConfig("own_ttl");
    expect([config.max_age, config.max_msgs_per_subject]).toEqual([3_600_000 * NS_PER_MS, 3]);
    expect(lines).toEqual([
      expect.objectContaining({
        level: "info",
        obj: { bucket: "own_ttl", changes: { max_age: [60_000 * NS_PER_MS, 3_600_000 * NS_PER_MS], max_msgs_per_subject: [1, 3] } },
      }),
    ]);
    // The bucket still works after the update, and an unchanged owner logs nothing.
    await kv.put("k", "v");
    expect((await kv.get("k"))?.string()).toBe("v");
    await openBucket(nats, "own_ttl", { history: 3, ttlMs: 3_600_000, owner: true, logger });
    expect(lines).toHaveLength(1);
  });

  it("shortens a max age below the default duplicate window", async () => {
    await openBucket(nats, "own_short", { ttlMs: 3_600_000 });
    await openBucket(nats, "own_short", { ttlMs: 30_000, owner: true });
    expect((await streamConfig("own_short")).max_age).toBe(30_000 * NS_PER_MS);
  });

  it("removes a max age its owner no longer configures", async () => {
    await openBucket(nats, "own_forever", { ttlMs: 60_000 });
    await openBucket(nats, "own_forever", { owner: true });
    expect((await streamConfig("own_forever")).max_age).toBe(0);
  });

  it("keeps the replica count a single server refuses, with a warning, and applies the rest", async () => {
    await openBucket(nats, "own_replicas", { ttlMs: 60_000 });
    const { lines, logger } = recordingLogger();
    await openBucket(nats, "own_replicas", { ttlMs: 120_000, replicas: 3, owner: true, logger });
    const config = await streamConfig("own_replicas");
    expect([config.max_age, config.num_replicas]).toEqual([120_000 * NS_PER_MS, 1]);
    expect(lines.map((l) => l.level)).toEqual(["warn", "info"]);
  });

  it("lets a reader bind without imposing its settings, or creating the bucket", async () => {
    await openBucket(nats, "owned_by_other", { ttlMs: 60_000, history: 2, owner: true });
    const reader = await openBucket(nats, "owned_by_other", { bind: true });
    await reader.put("k", "v");
    expect((await reader.get("k"))?.string()).toBe("v");
    // A reader opening without bind does not change an existing bucket either.
    await openBucket(nats, "owned_by_other", { history: 1 });
    expect([(await streamConfig("owned_by_other")).max_age, (await streamConfig("owned_by_other")).max_msgs_per_subject]).toEqual([60_000 * NS_PER_MS, 2]);
    await expect(openBucket(nats, "nobody_made_this", { bind: true })).rejects.toThrow(/does not exist/);
    await expect(nats.jsm.streams.info("KV_nobody_made_this")).rejects.toThrow(/not found/);
    await expect(openBucket(nats, "owned_by_other", { bind: true, ttlMs: 1 })).rejects.toThrow(TypeError);
  });

  it("lets a reader that starts first wait for the owner, without creating the bucket itself", async () => {
    let bound = false;
    const reader = openBucket(nats, "made_later", { bind: true, waitForOwner: true }).then((kv) => ((bound = true), kv));
    await new Promise((r) => setTimeout(r, 1200));
    expect(bound).toBe(false);
    await expect(nats.jsm.streams.info("KV_made_later")).rejects.toThrow(/not found/);
    const owner = await openBucket(nats, "made_later", { ttlMs: 30_000, owner: true });
    await owner.put("k", "from-owner");
    expect((await (await reader).get("k"))?.string()).toBe("from-owner");
    expect((await streamConfig("made_later")).max_age).toBe(30_000 * NS_PER_MS);
  });
});
