import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { startNats, waitFor } from "@sts/testkit";
import { context, trace } from "@opentelemetry/api";
import { initTelemetry } from "@sts/telemetry";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { NatsServerHandle } from "@sts/testkit";
import {
  BUCKETS,
  EVENTS_STREAM,
  EventPublisher,
  IllFormedStringError,
  KvCache,
  VALID_KV_KEY,
  connectNats,
  decodeKey,
  encodeKey,
  ensureEventsStream,
  extractTraceContext,
  openBucket,
} from "./index.js";
import type { NatsHandle } from "./index.js";
import type { KV } from "@nats-io/kv";

/** Node's own check (ES2024, beyond this repository's ES2023 lib). */
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

describe("encodeKey", () => {
  it("round-trips any well-formed string into a valid KV key and a single subject token", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (s) => {
        const k = encodeKey(s);
        return decodeKey(k) === s && VALID_KV_KEY.test(k) && !/[.*>\s]/.test(k);
      }),
    );
  });

  it("refuses a string with a lone surrogate, which UTF-8 would give U+FFFD's key (JSON's \\ud800 makes one)", () => {
    expect(() => encodeKey(JSON.parse('"x\\ud800"') as string)).toThrow(IllFormedStringError);
    // Bad input, not a server fault: a 400 wherever no caller maps it to its position's code.
    expect(() => encodeKey("x\uDFFF")).toThrow(/^invalid_request: /);
    expect(() => encodeKey("\uDE00\uD83D")).toThrow(IllFormedStringError);
    expect(decodeKey(encodeKey("x\uFFFD"))).toBe("x\uFFFD");
    expect(decodeKey(encodeKey("x\uD83D\uDE00"))).toBe("x\uD83D\uDE00");
    // Over any code units: a key for exactly the well-formed strings, and never one key for two of them.
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), (a, b) => {
        const key = (s: string): string | undefined => {
          try {
            return encodeKey(s);
          } catch (err) {
            if (!(err instanceof IllFormedStringError)) throw err;
            return undefined;
          }
        };
        const [ka, kb] = [key(a), key(b)];
        return (ka !== undefined) === isWellFormed(a) && (ka === undefined || ka !== kb || a === b);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("ensureEventsStream", () => {
  it("lets services that start together all make sure of the stream", async () => {
    const server = await startNats();
    const handles = await Promise.all(Array.from({ length: 6 }, (_, i) => connectNats({ servers: server.url, name: `starter-${i}` })));
    try {
      const outcomes = await Promise.allSettled(handles.map((h) => ensureEventsStream(h)));
      expect(outcomes.filter((o) => o.status === "rejected")).toEqual([]);
      expect((await handles[0]?.jsm.streams.info(EVENTS_STREAM.name))?.config.subjects).toEqual([...EVENTS_STREAM.subjects]);
    } finally {
      await Promise.all(handles.map((h) => h.close()));
      await server.stop();
    }
  }, 30_000);
});

describe("with a real nats-server", () => {
  let server: NatsServerHandle;
  let nats: NatsHandle;

  beforeAll(async () => {
    server = await startNats();
    nats = await connectNats({ servers: server.url, name: "test", pingIntervalMs: 500 });
    await ensureEventsStream(nats);
  }, 30_000);

  afterAll(async () => {
    await nats?.close();
    await server?.stop();
  });

  it("keeps the events stream as told, leaves a retention it is not told about as it is, and fits the duplicate window into a short age", async () => {
    const retention = async () => {
      const { config } = await nats.jsm.streams.info(EVENTS_STREAM.name);
      return { age: config.max_age / 1e9, bytes: config.max_bytes, window: config.duplicate_window / 1e9 };
    };
    await ensureEventsStream(nats, { maxAgeMs: 86_400_000, maxBytes: 1 << 30 });
    expect(await retention()).toEqual({ age: 86_400, bytes: 1 << 30, window: 120 });
    // Another start with nothing configured (or a limit set with the NATS tools meanwhile): left alone.
    await ensureEventsStream(nats);
    expect(await retention()).toEqual({ age: 86_400, bytes: 1 << 30, window: 120 });
    await ensureEventsStream(nats, { maxAgeMs: 60_000 });
    expect(await retention()).toEqual({ age: 60, bytes: 1 << 30, window: 60 });
    await ensureEventsStream(nats, { maxAgeMs: 0, maxBytes: 0 });
    expect(await retention()).toEqual({ age: 0, bytes: -1, window: 120 });
  });

  it("stores and reads back ids that are invalid raw keys", async () => {
    const kv = await openBucket(nats, BUCKETS.clients);
    for (const id of ["admin:test/vo_1", "a.b*>c", ""]) {
      await kv.put(encodeKey(id), JSON.stringify({ id }));
      expect((await kv.get(encodeKey(id)))?.json()).toEqual({ id });
    }
    await expect(kv.put("admin:test/vo_1", "x")).rejects.toThrow();
  });

  it("stores an event once when it is published twice with the same id", async () => {
    const events = new EventPublisher(nats, { source: "test" });
    const first = await events.publish("token.issued", { jti: "j1" }, { id: "fixed-id-1" });
    const second = await events.publish("token.issued", { jti: "j1" }, { id: "fixed-id-1" });
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
    const msg = await nats.jsm.streams.getMessage(EVENTS_STREAM.name, { seq: first.seq });
    expect(msg?.header.get("Nats-Msg-Id")).toBe("fixed-id-1");
    expect(msg?.json()).toMatchObject({ specversion: "1.0", id: "fixed-id-1", type: "token.issued", source: "test", data: { jti: "j1" } });
  });

  it("carries the trace context in NATS headers and in the event (traceparent)", async () => {
    initTelemetry({ serviceName: "nats-test", spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] });
    const events = new EventPublisher(nats, { source: "test" });
    const span = trace.getTracer("test").startSpan("issue");
    const { seq } = await context.with(trace.setSpan(context.active(), span), () => events.publish("token.issued", { jti: "traced" }));
    span.end();
    const msg = await nats.jsm.streams.getMessage(EVENTS_STREAM.name, { seq });
    const traceparent = msg?.header.get("traceparent") ?? "";
    expect(traceparent.split("-")[1]).toBe(span.spanContext().traceId);
    expect(msg?.json<{ traceparent?: string }>().traceparent).toBe(traceparent);
    expect(extractTraceContext(msg?.header) && trace.getSpanContext(extractTraceContext(msg?.header))?.traceId).toBe(span.spanContext().traceId);
  });

  it("feeds a cache from another connection's puts and deletes", async () => {
    const kv = await openBucket(nats, "test_cache");
    const cache = new KvCache(kv, { parse: (v) => v as { n: number }, invalid: "forget" });
    await cache.ready();
    const other = await connectNats({ servers: server.url, name: "other" });
    const kv2 = await openBucket(other, "test_cache");
    await kv2.put("k", JSON.stringify({ n: 1 }));
    await waitFor(() => cache.get("k")?.n === 1);
    await kv2.delete("k");
    await waitFor(() => cache.get("k") === undefined);
    cache.stop();
    await other.close();
  });

  it("forgets, or keeps the previous value of, a key whose new value does not parse, as its owner says", async () => {
    const kv = await openBucket(nats, "test_cache_invalid");
    const parse = (v: unknown): { n: number } | undefined => (typeof (v as { n?: unknown }).n === "number" ? (v as { n: number }) : undefined);
    const forgetting = new KvCache(kv, { parse, invalid: "forget" });
    const keeping = new KvCache(kv, { parse, invalid: "keep-previous" });
    const said: Array<[string, number | undefined]> = [];
    forgetting.onChange((key, value) => said.push([key, value?.n]));
    await Promise.all([forgetting.ready(), keeping.ready()]);
    await kv.put("k", JSON.stringify({ n: 1 }));
    await waitFor(() => forgetting.get("k")?.n === 1 && keeping.get("k")?.n === 1);
    // A write in a shape this release does not read (a newer writer, a half-written record); then one it reads again.
    await kv.put("k", JSON.stringify({ n: "one" }));
    await kv.put("marker", JSON.stringify({ n: 0 }));
    await waitFor(() => forgetting.get("marker") !== undefined && keeping.get("marker") !== undefined);
    expect(forgetting.get("k")).toBeUndefined();
    expect(keeping.get("k")?.n).toBe(1);
    // Listeners indexing the values hear it as a delete.
    expect(said).toEqual([
      ["k", 1],
      ["k", undefined],
      ["marker", 0],
    ]);
    await kv.put("k", JSON.stringify({ n: 2 }));
    await waitFor(() => forgetting.get("k")?.n === 2 && keeping.get("k")?.n === 2);
    forgetting.stop();
    keeping.stop();
  });

  it("reads a bucket made anew from the start, dropping what it no longer holds, and says when the copy was last current", async () => {
    const kv = await openBucket(nats, "test_cache_remade");
    for (let i = 0; i < 20; i++) await kv.put(`old-${i}`, JSON.stringify({ n: i }));
    const cache = new KvCache(kv, { parse: (v) => v as { n: number }, invalid: "forget", probeIntervalMs: 100 });
    const said: Array<[string, number | undefined]> = [];
    cache.onChange((key, value) => said.push([key, value?.n]));
    // Each whole read of the bucket is said once it is done, and the copy no longer says it is reading then.
    const loads: boolean[] = [];
    cache.onLoaded(() => loads.push(cache.reloading));
    await cache.ready();
    expect(cache.size).toBe(20);
    expect([loads, cache.reloading]).toEqual([[false], false]);
    const loadedAt = cache.confirmedAt ?? 0;
    expect(loadedAt).toBeGreaterThan(0);
    // An idle copy is confirmed current at each probe.
    await waitFor(() => (cache.confirmedAt ?? 0) > loadedAt);

    // NATS lost the bucket's stream and the owner made the bucket again: its writes are numbered from 1.
    await nats.jsm.streams.delete("KV_test_cache_remade");
    const remade = await openBucket(nats, "test_cache_remade");
    await remade.put("new-1", JSON.stringify({ n: 100 }));
    await remade.put("old-3", JSON.stringify({ n: 103 }));
    await waitFor(() => cache.get("new-1")?.n === 100 && cache.size === 2, { timeoutMs: 10_000 });
    expect(loads).toEqual([false, false]);
    expect(cache.get("old-3")?.n).toBe(103);
    expect(cache.get("old-4")).toBeUndefined();
    // Listeners heard the dropped keys as deletes.
    expect(said.filter(([key, n]) => key === "old-4" && n === undefined)).toHaveLength(1);
    // And it follows the new bucket from then on.
    await remade.put("new-2", JSON.stringify({ n: 200 }));
    await waitFor(() => cache.get("new-2")?.n === 200);
    cache.stop();
  });

  it("is ready, holding nothing, when its key filter matches no key of a bucket that holds others", async () => {
    // The key ring's bucket after a first issuer start died between writing its lock and its first key.
    const kv = await openBucket(nats, "test_cache_filtered_none");
    await kv.create("successor.genesis", JSON.stringify({ n: 0 }));
    const cache = new KvCache(kv, { parse: (v) => v as { n: number }, invalid: "forget", key: "key.>" });
    let ready = false;
    void cache.ready().then(() => (ready = true));
    await waitFor(() => ready, { timeoutMs: 5_000, message: "the filtered copy never became ready" });
    expect(cache.size).toBe(0);
    await kv.put("key.k1", JSON.stringify({ n: 1 }));
    await waitFor(() => cache.get("key.k1")?.n === 1);
    expect(cache.get("successor.genesis")).toBeUndefined();
    cache.stop();
  });

  it("confirms no copy with a key filter by sequence: the stream's last write may be one it never receives", async () => {
    const kv = await openBucket(nats, "test_cache_filtered");
    await kv.put("a.1", JSON.stringify({ n: 1 }));
    await kv.put("b.1", JSON.stringify({ n: 2 }));
    const cache = new KvCache(kv, { parse: (v) => v as { n: number }, invalid: "forget", key: "a.>", probeIntervalMs: 100 });
    await cache.ready();
    await new Promise((r) => setTimeout(r, 300));
    expect(cache.confirmedAt).toBeUndefined();
    expect(cache.get("a.1")?.n).toBe(1);
    cache.stop();
  });

  it("ends a watch it began before it was stopped: a copy given up (a reload that never loaded) leaves no consumer on the server listened to", async () => {
    const kv = await openBucket(nats, "test_cache_stopped_early");
    let asked: () => void = () => undefined;
    const watchAsked = new Promise<void>((r) => (asked = r));
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let made: Promise<unknown> = Promise.resolve();
    // The real bucket, its watch held back until the copy is stopped: stop() lands while the watch is being made.
    const held = new Proxy(kv, {
      get(target, property) {
        if (property === "watch") {
          return (opts: Parameters<KV["watch"]>[0]) => {
            asked();
            return (made = gate.then(() => target.watch(opts)));
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const cache = new KvCache(held, { parse: (v) => v as { n: number }, invalid: "forget" });
    await watchAsked;
    cache.stop();
    release();
    await made;
    // The watch's consumer was made on the server; nobody reads a stopped copy, so nothing may still listen to it (the
    // server drops a consumer no one listens to after its inactive threshold, and keeps one listened to for good).
    const consumers = (): Promise<Array<{ push_bound?: boolean }>> => nats.jsm.consumers.list("KV_test_cache_stopped_early").next();
    expect(await consumers()).toHaveLength(1);
    await waitFor(async () => (await consumers()).every((c) => c.push_bound !== true), {
      timeoutMs: 10_000,
      message: "the stopped copy still listens to its watch's consumer",
    });
  });

  it("reads the bucket again when its watch stalls with the connection up (its consumer lost on the server), within probe periods", async () => {
    const kv = await openBucket(nats, "test_cache_stalled");
    const cache = new KvCache(kv, { parse: (v) => v as { n: number }, invalid: "forget", probeIntervalMs: 100 });
    try {
      await cache.ready();
      // As when the cluster node holding the watch's consumer restarts while this connection, to another node, stays up.
      const [consumer] = await nats.jsm.consumers.list("KV_test_cache_stalled").next();
      expect(consumer).toBeDefined();
      await nats.jsm.consumers.delete("KV_test_cache_stalled", consumer?.name ?? "");
      await kv.put("k", JSON.stringify({ n: 1 }));
      // nats.js itself notices only after two missed idle heartbeats of 30 s: every verifier would answer from (or,
      // past its staleness bound, refuse for) a copy that misses the write that long.
      await waitFor(() => cache.get("k")?.n === 1, { timeoutMs: 10_000, message: "the stalled watch was not replaced" });
      expect(cache.confirmedAt).toBeDefined();
    } finally {
      cache.stop();
    }
  });

  it("reports disconnection, reconnects to a restarted server, and fails publishes closed meanwhile", async () => {
    const events = new EventPublisher(nats, { source: "test", timeoutMs: 300, retries: 1, retryWindowMs: 500 });
    await server.kill("SIGKILL");
    await waitFor(() => !nats.isConnected(), { timeoutMs: 5000 });
    await expect(events.publish("token.issued", { jti: "j2" })).rejects.toMatchObject({ code: "temporarily_unavailable" });
    await server.restart();
    await waitFor(() => nats.isConnected(), { timeoutMs: 10_000 });
    await waitFor(
      async () =>
        await events.publish("token.issued", { jti: "j3" }).then(
          () => true,
          () => false,
        ),
      { timeoutMs: 10_000 },
    );
  }, 30_000);
});

describe("a copy of a bucket across a restart of its server", () => {
  it("is confirmed current again as soon as it has read the bucket after the reconnect, not a probe period later", async () => {
    const server = await startNats();
    const nats = await connectNats({ servers: server.url, name: "copy", pingIntervalMs: 500 });
    const kv = await openBucket(nats, "test_cache_reconnected");
    await kv.put("k", JSON.stringify({ n: 1 }));
    // No probe within the test: only the read after the reconnect can confirm the copy.
    const cache = new KvCache(kv, { parse: (v) => v as { n: number }, invalid: "forget", probeIntervalMs: 3_600_000 });
    try {
      await cache.ready();
      const loadedAt = cache.confirmedAt ?? 0;
      await server.kill("SIGKILL");
      await server.restart();
      await waitFor(() => (cache.confirmedAt ?? 0) > loadedAt, { timeoutMs: 10_000, message: "the copy was not confirmed after the reconnect" });
      expect(cache.get("k")?.n).toBe(1);
    } finally {
      cache.stop();
      await nats.close();
      await server.stop();
    }
  }, 30_000);

  it("reads the bucket again at the reconnect, dropping the lost writes and taking the new ones under their sequences", async () => {
    const server = await startNats();
    const snapshot = mkdtempSync(join(tmpdir(), "sts-nats-snapshot-"));
    const nats = await connectNats({ servers: server.url, name: "copy", pingIntervalMs: 500 });
    /** Retries `write` while JetStream is back but not yet answering. */
    const written = (write: () => Promise<unknown>): Promise<unknown> =>
      waitFor(
        () =>
          write().then(
            () => true,
            () => false,
          ),
        { timeoutMs: 10_000, message: "the restarted server took no write" },
      );
    /** Restarts the server with the store as `snapshot` holds it, or as it is. */
    const restart = async (from?: string): Promise<void> => {
      await server.kill("SIGKILL");
      if (from) {
        rmSync(server.storeDir, { recursive: true, force: true });
        cpSync(from, server.storeDir, { recursive: true });
      } else cpSync(server.storeDir, snapshot, { recursive: true });
      await server.restart();
      await waitFor(() => nats.isConnected(), { timeoutMs: 10_000 });
    };
    const kv = await openBucket(nats, "test_cache_tail_lost");
    const cache = new KvCache(kv, { parse: (v) => v as { n: number }, invalid: "forget", probeIntervalMs: 200 });
    try {
      for (let i = 0; i < 5; i++) await kv.put(`old-${i}`, JSON.stringify({ n: i }));
      await cache.ready();
      // The store as fsynced: writes 1 to 5.
      await restart();
      for (let i = 0; i < 5; i++) await written(() => kv.put(`lost-${i}`, JSON.stringify({ n: i })));
      await waitFor(() => cache.revision === 10 && cache.get("lost-4") !== undefined);
      // An OS crash loses the tail (writes 6 to 10); new writes take sequences 6 to 11.
      await restart(snapshot);
      for (let i = 0; i < 6; i++) await written(() => kv.put(`new-${i}`, JSON.stringify({ n: i })));
      const bucket = new Set<string>();
      for await (const k of await kv.keys()) bucket.add(k);
      expect([...bucket].sort()).toEqual([...["old-0", "old-1", "old-2", "old-3", "old-4"], ...["new-0", "new-1", "new-2", "new-3", "new-4", "new-5"]].sort());
      await waitFor(() => cache.size === bucket.size && cache.entries().every(([k]) => bucket.has(k)), {
        timeoutMs: 10_000,
        message: "the copy still holds writes the server lost, or misses new ones",
      });
      expect(cache.revision).toBe(11);
    } finally {
      cache.stop();
      await nats.close();
      await server.stop();
      rmSync(snapshot, { recursive: true, force: true });
    }
  }, 60_000);
});
