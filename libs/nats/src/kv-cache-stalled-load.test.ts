import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KV } from "@nats-io/kv";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { KvCache, connectNats, openBucket } from "./index.js";
import type { NatsHandle } from "./index.js";

let server: NatsServerHandle;
let nats: NatsHandle;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "kv-cache-stalled-load-test" });
});

afterAll(async () => {
  await nats.close();
  await server.stop();
});

/**
 * The real bucket, whose first watch loses its consumer on the server as soon as it is made: as when the cluster node
 * holding it restarts while the copy reads the bucket (at the reconnect that node's restart caused, say).
 */
function consumerLostOnFirstWatch(kv: KV, stream: string): { kv: KV; watches: () => number } {
  let watches = 0;
  const lossy = new Proxy(kv, {
    get(target, property) {
      if (property === "watch") {
        return async (opts: Parameters<KV["watch"]>[0]) => {
          const iter = await target.watch(opts);
          if (watches++ === 0) for await (const c of nats.jsm.consumers.list(stream)) await nats.jsm.consumers.delete(stream, c.name);
          return iter;
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { kv: lossy, watches: () => watches };
}

describe("a copy whose watch stalls while it reads the bucket", () => {
  it("reads the bucket again within probe periods, instead of staying unloaded and unconfirmed until nats.js's heartbeats", async () => {
    const kv = await openBucket(nats, "test_cache_load_stalled");
    // More than one flow-control window of values, so that the consumer is lost with part of the bucket undelivered.
    const value = JSON.stringify({ pad: "x".repeat(2000) });
    const keys = 4000;
    for (let i = 0; i < keys; i += 500) await Promise.all(Array.from({ length: 500 }, (_, j) => kv.put(`k${i + j}`, value)));
    const lossy = consumerLostOnFirstWatch(kv, "KV_test_cache_load_stalled");
    const cache = new KvCache(lossy.kv, { parse: (v) => v, invalid: "forget", probeIntervalMs: 100 });
    try {
      let loaded = false;
      void cache.ready().then(() => (loaded = true));
      await waitFor(() => loaded, { timeoutMs: 10_000 }).catch(() => {
        throw new Error(
          `the copy is still loading, holding ${cache.size} of ${keys} values after ${lossy.watches()} watch(es): its stalled read was not made anew`,
        );
      });
      expect(cache.size).toBe(keys);
      // Loaded through the read that replaced the stalled one, the copy is confirmed: a reader bounding its age answers.
      expect(cache.confirmedAt).toBeDefined();
    } finally {
      cache.stop();
    }
  }, 60_000);
});
