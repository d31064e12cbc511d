import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUCKETS, connectNats, encodeKey, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { openRevocationReader } from "./revocation-reader.js";

let server: NatsServerHandle;
let nats: NatsHandle;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "revocation-reader-test" });
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.stop();
});

describe("openRevocationReader", () => {
  it("waits for the owner to make the bucket, then answers from its revocations", async () => {
    let opened = false;
    const reading = openRevocationReader(nats, { maxStalenessMs: 1_000, clockToleranceSeconds: 30 }).then((r) => ((opened = true), r));
    // A reader never creates the bucket: until its owner does, it is still waiting.
    await expect(nats.jsm.streams.info(`KV_${BUCKETS.revocations}`)).rejects.toThrow(/not found/i);
    expect(opened).toBe(false);
    const kv = await openBucket(nats, BUCKETS.revocations, { owner: true });
    await kv.put(encodeKey("revoked-jti"), JSON.stringify({ jti: "revoked-jti", exp: Math.floor(Date.now() / 1000) + 60, revoked_at: 0, by: "app" }));
    const reader = await reading;
    try {
      await waitFor(() => reader.isRevoked("revoked-jti"), { timeoutMs: 5_000, message: "the revocation was not seen" });
      expect(reader.isRevoked("other-jti")).toBe(false);
    } finally {
      reader.stop();
    }
  });
});
