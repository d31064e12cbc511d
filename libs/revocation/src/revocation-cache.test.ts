import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KV } from "@nats-io/kv";
import { connectNats, encodeKey, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { RevocationCache } from "./revocation-cache.js";
import { RevocationList, StalenessGuard, keyWithdrawalKey, subjectKey } from "./revocation-list.js";
import type { KeyWithdrawalRecord, RevocationRecord, SubjectRevocationRecord } from "./revocation-list.js";

let server: NatsServerHandle;
let nats: NatsHandle;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "revocation-cache-test" });
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.stop();
});

const record = (jti: string): RevocationRecord => ({ jti, exp: Math.floor(Date.now() / 1000) + 60, revoked_at: Math.floor(Date.now() / 1000), by: "app" });

/** Runs `test` with a cache and a list on a bucket of its own, stopping the cache after. */
async function withCache(
  bucket: string,
  options: { ttlMs?: number; reloadIntervalMs?: number; now?: () => number },
  test: (t: { kv: KV; cache: RevocationCache; list: RevocationList }) => Promise<void>,
): Promise<void> {
  const kv = await openBucket(nats, bucket, options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs });
  const cache = new RevocationCache(kv, {
    clockToleranceSeconds: 30,
    ...(options.reloadIntervalMs !== undefined && { reloadIntervalMs: options.reloadIntervalMs }),
    ...(options.now && { now: options.now }),
  });
  try {
    await test({ kv, cache, list: new RevocationList(kv, cache) });
  } finally {
    cache.stop();
  }
}

const seen = (list: RevocationList, jti: string, what: string): Promise<boolean> =>
  waitFor(async () => list.isRevoked(jti), { timeoutMs: 5_000, message: `${what} not seen` });

describe("RevocationCache", () => {
  it("forgets, at its next reload, a revocation the bucket's max_age removed (no watch event says so)", async () => {
    // The bucket keeps a value for one second; the cache reloads every 100 ms.
    await withCache("test_revocations_expiring", { ttlMs: 1_000, reloadIntervalMs: 100 }, async ({ kv, cache, list }) => {
      await cache.ready();
      await list.revoke(record("gone-soon"));
      await seen(list, "gone-soon", "the revocation");
      // The server drops the record on its own; only a reload can tell.
      await waitFor(async () => (await kv.get(encodeKey("gone-soon"))) === null, { timeoutMs: 10_000, message: "max_age did not remove the record" });
      await waitFor(async () => !list.isRevoked("gone-soon"), { timeoutMs: 5_000, message: "the cache still holds an expired revocation" });
    });
  }, 30_000);

  it("keeps every revocation the bucket still holds across a reload, and follows the watch after it", async () => {
    await withCache("test_revocations_kept", {}, async ({ cache, list }) => {
      await list.revoke(record("kept"));
      await cache.ready();
      await seen(list, "kept", "the revocation");
      await cache.reload();
      expect(list.isRevoked("kept")).toBe(true);
      await list.revoke(record("after-reload"));
      await seen(list, "after-reload", "a revocation made after the reload");
    });
  }, 30_000);

  it("holds a record only while its token can pass a verifier (exp + clock tolerance + a minute), and never loads one past that", async () => {
    const start = Math.floor(Date.now() / 1000);
    let now = start;
    await withCache("test_revocations_pruned", { now: () => now }, async ({ cache, list }) => {
      await cache.ready();
      await list.revoke({ ...record("short"), exp: start + 10 });
      await list.revoke({ ...record("long"), exp: start + 3_600 });
      await seen(list, "short", "the short-lived token's revocation");
      await seen(list, "long", "the long-lived token's revocation");
      // A verifier still accepts the short token up to exp + 30 s of tolerance; the copy keeps it a minute longer.
      now = start + 10 + 30 + 59;
      expect(cache.sweep()).toBe(0);
      expect(list.isRevoked("short")).toBe(true);
      now += 1;
      expect(cache.sweep()).toBe(1);
      expect(list.isRevoked("short")).toBe(false);
      expect(list.isRevoked("long")).toBe(true);
      expect(cache.size).toBe(1);
      // The bucket still holds the short one for its day; a fresh read does not take it back in.
      await cache.reload();
      expect(cache.size).toBe(1);
      expect(list.isRevoked("long")).toBe(true);
      expect(list.isRevoked("short")).toBe(false);
    });
  }, 30_000);

  it("indexes withdrawn signing keys by issuer and kid, apart from subjects and token ids, until their tokens have expired", async () => {
    const start = Math.floor(Date.now() / 1000);
    let now = start;
    const withdrawal = (iss: string, kid: string): KeyWithdrawalRecord => ({ iss, kid, revoked_at: start, exp: start + 300, by: "ops" });
    await withCache("test_revocations_keys", { now: () => now }, async ({ kv, cache, list }) => {
      await cache.ready();
      await list.withdrawKey(withdrawal("https://sts", "k1"));
      // A retry writes the same record again: still one withdrawal.
      await list.withdrawKey(withdrawal("https://sts", "k1"));
      await list.revokeSubject({ iss: "https://sts", sub: "k2", revoked_at: start, exp: start + 300, by: "ops" }, undefined);
      await waitFor(() => list.isKeyWithdrawn("https://sts", "k1") && list.subjectRevokedAt("https://sts", "k2") === start, {
        timeoutMs: 5_000,
        message: "the withdrawal was not seen",
      });
      // Another issuer's key of the same kid, a subject named like a kid, a jti: none is a withdrawn key.
      expect(list.isKeyWithdrawn("https://idp", "k1")).toBe(false);
      expect(list.isKeyWithdrawn("https://sts", "k2")).toBe(false);
      expect(list.subjectRevokedAt("https://sts", "k1")).toBeUndefined();
      expect(list.isRevoked("k1")).toBe(false);
      await cache.reload();
      expect(list.isKeyWithdrawn("https://sts", "k1")).toBe(true);
      now = start + 300 + 30 + 60;
      expect(cache.sweep()).toBeGreaterThanOrEqual(1);
      expect(list.isKeyWithdrawn("https://sts", "k1")).toBe(false);
      // Deleted from the bucket (its owner's max_age): forgotten by the watch too.
      now = start;
      await list.withdrawKey(withdrawal("https://sts", "k3"));
      await waitFor(() => list.isKeyWithdrawn("https://sts", "k3"), { timeoutMs: 5_000, message: "the second withdrawal was not seen" });
      await kv.delete(keyWithdrawalKey("https://sts", "k3"));
      await waitFor(() => !list.isKeyWithdrawn("https://sts", "k3"), { timeoutMs: 5_000, message: "the deletion was not seen" });
    });
  }, 30_000);

  it("indexes subject revocations by issuer and subject, apart from token ids, and follows their changes", async () => {
    const start = Math.floor(Date.now() / 1000);
    let now = start;
    const subject = (iss: string, sub: string, revokedAt: number): SubjectRevocationRecord => ({ iss, sub, revoked_at: revokedAt, exp: start + 600, by: "op" });
    await withCache("test_revocations_subjects", { now: () => now }, async ({ kv, cache, list }) => {
      await cache.ready();
      // A jti that reads like a subject key's parts stays a jti: the key spaces cannot meet.
      await list.revoke(record("sub.x.y"));
      await list.revokeSubject(subject("https://idp", "alice", start), undefined);
      await list.revokeSubject(subject("https://sts", "bob", start), undefined);
      await waitFor(() => list.subjectRevokedAt("https://sts", "bob") === start, { timeoutMs: 5_000, message: "the subject revocation was not seen" });
      expect(list.subjectRevokedAt("https://idp", "alice")).toBe(start);
      expect(list.subjectRevokedAt("https://sts", "alice")).toBeUndefined();
      expect(list.subjectRevokedAt("https://idp", "bob")).toBeUndefined();
      expect(list.isRevoked("sub.x.y")).toBe(true);
      expect(list.isRevoked("alice")).toBe(false);
      expect(await list.storedSubjectRevokedAt("https://idp", "alice")).toBe(start);
      expect(await list.storedSubjectRevokedAt("https://sts", "alice")).toBeUndefined();
      // Revoked again later: the newer time wins. Deleted from the bucket: forgotten.
      const { revision } = await list.storedSubjectRevocation("https://idp", "alice");
      await list.revokeSubject(subject("https://idp", "alice", start + 5), revision);
      await waitFor(() => list.subjectRevokedAt("https://idp", "alice") === start + 5, { timeoutMs: 5_000, message: "the newer revocation was not seen" });
      await kv.delete(subjectKey("https://sts", "bob"));
      await waitFor(() => list.subjectRevokedAt("https://sts", "bob") === undefined, { timeoutMs: 5_000, message: "the deletion was not seen" });
      // Kept while a token it covers can pass a verifier (its exp plus tolerance and margin), survives a reload, then pruned.
      await cache.reload();
      expect(list.subjectRevokedAt("https://idp", "alice")).toBe(start + 5);
      now = start + 600 + 30 + 60;
      expect(cache.sweep()).toBeGreaterThanOrEqual(1);
      expect(list.subjectRevokedAt("https://idp", "alice")).toBeUndefined();
    });
  }, 30_000);

  it("keys a subject by fixed-length hashes, so one of 1024 UTF-8 bytes (CJK) under an issuer as long is stored and seen", async () => {
    const start = Math.floor(Date.now() / 1000);
    // 341 three-byte characters and one more byte each: at the limit RevokeSubject takes, in bytes.
    const iss = `https://idp/${"界".repeat(337)}`;
    const sub = `${"界".repeat(341)}a`;
    expect([Buffer.byteLength(iss), Buffer.byteLength(sub)]).toEqual([1023, 1024]);
    expect(subjectKey(iss, sub)).toHaveLength(subjectKey("i", "s").length);
    expect(subjectKey(iss, sub)).not.toBe(subjectKey(sub, iss));
    await withCache("test_revocations_long_subjects", {}, async ({ cache, list }) => {
      await cache.ready();
      expect(await list.revokeSubject({ iss, sub, revoked_at: start, exp: start + 600, by: "op" }, undefined)).toBe(true);
      await waitFor(() => list.subjectRevokedAt(iss, sub) === start, { timeoutMs: 5_000, message: "the long subject's revocation was not seen" });
      expect(await list.storedSubjectRevokedAt(iss, sub)).toBe(start);
      expect(list.subjectRevokedAt(iss, sub.slice(1))).toBeUndefined();
    });
  }, 30_000);

  it("writes a subject's revocation only against the revision read (create when absent), and reports a lost race", async () => {
    const start = Math.floor(Date.now() / 1000);
    const at = (revokedAt: number): SubjectRevocationRecord => ({ iss: "https://sts", sub: "carol", revoked_at: revokedAt, exp: start + 600, by: "op" });
    await withCache("test_revocations_cas", {}, async ({ list }) => {
      expect(await list.storedSubjectRevocation("https://sts", "carol")).toEqual({ revokedAt: undefined, revision: undefined });
      expect(await list.revokeSubject(at(start), undefined)).toBe(true);
      const first = await list.storedSubjectRevocation("https://sts", "carol");
      expect(first.revokedAt).toBe(start);
      // Another replica wrote meanwhile: a create, or an update at the old revision, is refused, not written over.
      expect(await list.revokeSubject(at(start - 10), undefined)).toBe(false);
      expect(await list.revokeSubject(at(start + 10), first.revision)).toBe(true);
      expect(await list.revokeSubject(at(start - 10), first.revision)).toBe(false);
      expect((await list.storedSubjectRevocation("https://sts", "carol")).revokedAt).toBe(start + 10);
    });
  }, 30_000);

  it("indexes a subject record by its iss and sub: a newer one replaces it, a deleted one is forgotten, and another subject is untouched", async () => {
    const start = Math.floor(Date.now() / 1000);
    const record = (sub: string, revokedAt: number): SubjectRevocationRecord => ({
      iss: "https://idp",
      sub,
      revoked_at: revokedAt,
      exp: start + 600,
      by: "op",
    });
    await withCache("test_revocations_subject_index", {}, async ({ kv, cache, list }) => {
      await cache.ready();
      await list.revokeSubject(record("dora", start + 5), undefined);
      await list.revokeSubject(record("erin", start + 7), undefined);
      await waitFor(() => list.subjectRevokedAt("https://idp", "dora") === start + 5, { timeoutMs: 5_000, message: "the record was not indexed" });
      const stored = await list.storedSubjectRevocation("https://idp", "dora");
      expect(stored.revokedAt).toBe(start + 5);
      await list.revokeSubject(record("dora", start + 9), stored.revision);
      await waitFor(() => list.subjectRevokedAt("https://idp", "dora") === start + 9, { timeoutMs: 5_000, message: "the newer record was not seen" });
      await kv.delete(subjectKey("https://idp", "dora"));
      await waitFor(() => list.subjectRevokedAt("https://idp", "dora") === undefined, { timeoutMs: 5_000, message: "the deletion was not seen" });
      expect(await list.storedSubjectRevokedAt("https://idp", "dora")).toBeUndefined();
      expect(list.subjectRevokedAt("https://idp", "erin")).toBe(start + 7);
    });
  }, 30_000);

  it("checks the staleness guard once for a batch of lookups (checked), and fails closed once the copy is too old", async () => {
    await withCache("test_revocations_checked", {}, async ({ kv, cache }) => {
      let connected = true;
      let listener: (c: boolean) => void = () => undefined;
      let now = 0;
      const guard = new StalenessGuard({ isConnected: () => connected, onStatusChange: (cb) => (listener = cb) }, 1_000, () => now);
      const list = new RevocationList(kv, cache, guard);
      await cache.ready();
      await list.revoke(record("checked-jti"));
      await waitFor(() => list.isRevoked("checked-jti"), { timeoutMs: 5_000, message: "the revocation was not seen" });
      expect(list.checked().isRevoked("checked-jti")).toBe(true);
      expect(list.checked().isRevoked("other")).toBe(false);
      connected = false;
      listener(false);
      now = 1_001;
      expect(() => list.checked()).toThrow(expect.objectContaining({ code: "temporarily_unavailable" }));
      expect(() => list.isRevoked("checked-jti")).toThrow(expect.objectContaining({ code: "temporarily_unavailable" }));
    });
  }, 30_000);

  it("follows a bucket made anew (NATS lost its store): a revocation written there is seen, what it lost is dropped", async () => {
    const kv = await openBucket(nats, "test_revocations_remade");
    const cache = new RevocationCache(kv, { clockToleranceSeconds: 30, probeIntervalMs: 100 });
    try {
      const list = new RevocationList(kv, cache);
      await cache.ready();
      for (let i = 0; i < 10; i++) await list.revoke(record(`before-${i}`));
      await seen(list, "before-9", "the revocation before");
      await nats.jsm.streams.delete("KV_test_revocations_remade");
      const remade = await openBucket(nats, "test_revocations_remade");
      await new RevocationList(remade, cache).revoke(record("after"));
      await waitFor(() => list.isRevoked("after") && !list.isRevoked("before-9"), { timeoutMs: 10_000, message: "the bucket made anew was not followed" });
      expect(cache.confirmedAt).toBeGreaterThan(Date.now() - 10_000);
    } finally {
      cache.stop();
    }
  }, 30_000);

  it("gives up a reload that cannot finish when stopped", async () => {
    const kv = await openBucket(nats, "test_revocations_stopped");
    const cache = new RevocationCache(kv, { clockToleranceSeconds: 30 });
    await cache.ready();
    const reload = cache.reload();
    cache.stop();
    await expect(reload).resolves.toBeUndefined();
  });

  it("never lifts a revocation over a value it cannot read: a reload, a restarted replica and the bucket read refuse what is under its key", async () => {
    const start = Math.floor(Date.now() / 1000);
    let now = start;
    const iss = "https://sts";
    await withCache("test_revocations_unreadable", { now: () => now }, async ({ kv, cache, list }) => {
      await cache.ready();
      await list.revoke(record("j-overwritten"));
      await list.revokeSubject({ iss, sub: "frank", revoked_at: start, exp: start + 600, by: "op" }, undefined);
      await list.withdrawKey({ iss, kid: "k-overwritten", revoked_at: start, exp: start + 600, by: "op" });
      await waitFor(() => list.isRevoked("j-overwritten") && list.subjectRevokedAt(iss, "frank") === start && list.isKeyWithdrawn(iss, "k-overwritten"), {
        timeoutMs: 5_000,
        message: "the revocations were not seen",
      });
      // Written over with what this release cannot read (not JSON, a shape it does not know, a record of another kind),
      // and written first that way under keys it never held.
      await kv.put(encodeKey("j-overwritten"), "{half-written");
      await kv.put(subjectKey(iss, "frank"), JSON.stringify({ iss, sub: "frank", revoked_at: "yesterday" }));
      await kv.put(keyWithdrawalKey(iss, "k-overwritten"), "\u0000");
      await kv.put(encodeKey("j-new"), "not json");
      await kv.put(subjectKey(iss, "gina"), JSON.stringify(record("a token record under a subject's key")));
      await kv.put(keyWithdrawalKey(iss, "k-new"), JSON.stringify({ iss, kid: "k-new", revoked_at: start }));
      const refusesAll = (l: RevocationList): boolean =>
        l.isRevoked("j-overwritten") &&
        l.isRevoked("j-new") &&
        (l.subjectRevokedAt(iss, "frank") ?? 0) >= start &&
        (l.subjectRevokedAt(iss, "gina") ?? 0) >= start &&
        l.isKeyWithdrawn(iss, "k-overwritten") &&
        l.isKeyWithdrawn(iss, "k-new");
      await waitFor(() => refusesAll(list), { timeoutMs: 5_000, message: "the copy took an unreadable value as no revocation" });
      // The hourly reload reads the bucket into a new copy, which never held the readable values.
      await cache.reload();
      expect(refusesAll(list)).toBe(true);
      // Nor does a replica started now, nor the read a refresh or an assertion grant makes of the bucket itself.
      const restarted = new RevocationCache(kv, { clockToleranceSeconds: 30, now: () => now });
      try {
        await restarted.ready();
        expect(refusesAll(new RevocationList(kv, restarted))).toBe(true);
      } finally {
        restarted.stop();
      }
      expect(await list.storedSubjectRevokedAt(iss, "frank")).toBeGreaterThanOrEqual(start);
      expect(await list.storedSubjectRevokedAt(iss, "gina")).toBeGreaterThanOrEqual(start);
      // No exp to prune it by: held until its key is written again or deleted.
      now = start + 86_400;
      cache.sweep();
      expect(refusesAll(list)).toBe(true);
      now = start;
      expect(list.isRevoked("other")).toBe(false);
      expect(list.subjectRevokedAt(iss, "other")).toBeUndefined();
      expect(list.isKeyWithdrawn(iss, "other")).toBe(false);
      await kv.delete(encodeKey("j-new"));
      await kv.delete(subjectKey(iss, "gina"));
      await kv.delete(keyWithdrawalKey(iss, "k-new"));
      await waitFor(() => !list.isRevoked("j-new") && list.subjectRevokedAt(iss, "gina") === undefined && !list.isKeyWithdrawn(iss, "k-new"), {
        timeoutMs: 5_000,
        message: "a deleted unreadable record was not forgotten",
      });
      await list.revokeSubject(
        { iss, sub: "frank", revoked_at: start + 1, exp: start + 600, by: "op" },
        (await list.storedSubjectRevocation(iss, "frank")).revision,
      );
      await waitFor(() => list.subjectRevokedAt(iss, "frank") === start + 1, {
        timeoutMs: 5_000,
        message: "a readable record did not replace the unreadable one",
      });
    });
  }, 30_000);
});
