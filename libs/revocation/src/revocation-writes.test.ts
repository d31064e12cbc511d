/**
 * RFC 7009 §2: once the revocation is answered, the token cannot be used again. A replica answers from its
 * watch-fed copy, so a write through RevocationList returns only once that replica's copy holds it; a client's next
 * request to the replica that answered (introspection, a refresh, an exchange) is then refused. Real nats-server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { startNats } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { RevocationCache } from "./revocation-cache.js";
import { RevocationList } from "./revocation-list.js";

let server: NatsServerHandle;
let nats: NatsHandle;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "revocation-writes-test" });
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.stop();
});

/** A replica: its list over its own loaded copy of `bucket` (the caller stops the copy). */
async function replica(bucket: string): Promise<{ list: RevocationList; cache: RevocationCache }> {
  const kv = await openBucket(nats, bucket);
  const cache = new RevocationCache(kv, { clockToleranceSeconds: 30 });
  await cache.ready();
  return { list: new RevocationList(kv, cache), cache };
}

const now = (): number => Math.floor(Date.now() / 1000);
/** Writes in a row: each is one chance for the copy to be a watch delivery behind the write's acknowledgement. */
const ROUNDS = 100;

describe("a write through RevocationList", () => {
  it("is held by the writing replica's copy when revoke returns: the token is refused at once (RFC 7009 §2)", async () => {
    const { list, cache } = await replica("test_revocations_own_write");
    try {
      const missed: string[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const jti = `jti-${i}`;
        await list.revoke({ jti, exp: now() + 300, revoked_at: now(), by: "app" });
        if (!list.isRevoked(jti)) missed.push(jti);
      }
      expect(missed).toEqual([]);
    } finally {
      cache.stop();
    }
  }, 60_000);

  it("revokes a subject and withdraws a key in the writing replica's copy by the time the call returns", async () => {
    const { list, cache } = await replica("test_revocations_own_subject");
    try {
      const missed: string[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const sub = `user-${i}`;
        const at = now();
        expect(await list.revokeSubject({ iss: "https://sts", sub, revoked_at: at, exp: at + 600, by: "op" }, undefined)).toBe(true);
        if (list.subjectRevokedAt("https://sts", sub) !== at) missed.push(sub);
        const kid = `kid-${i}`;
        await list.withdrawKey({ iss: "https://sts", kid, revoked_at: at, exp: at + 600, by: "op" });
        if (!list.isKeyWithdrawn("https://sts", kid)) missed.push(kid);
      }
      expect(missed).toEqual([]);
    } finally {
      cache.stop();
    }
  }, 60_000);

  it("still returns when the copy cannot follow (stopped): the write itself is durable", async () => {
    const { list, cache } = await replica("test_revocations_copy_stopped");
    cache.stop();
    const record = { jti: "while-stopped", exp: now() + 300, revoked_at: now(), by: "app" };
    expect(await list.revoke(record)).toEqual(record);
  });
});
