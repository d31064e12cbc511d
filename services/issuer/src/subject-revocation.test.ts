/**
 * RevokeSubject's writes on a real nats-server: the revocation is stored
 * before its event, so an event that cannot be stored leaves the subject
 * revoked and the call answering temporarily_unavailable; the retry stores
 * the same event once. revoked_at runs the clock tolerance ahead, and never
 * moves back, even with two replicas revoking at once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata } from "@grpc/grpc-js";
import { BUCKETS, EVENTS_STREAM, EventPublisher, connectNats, ensureEventsStream, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { RevocationCache, RevocationList } from "@sts/revocation";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { parseRevokeSubject, revokeSubject } from "./subject-revocation.js";
import type { SubjectRevocationDeps } from "./subject-revocation.js";
import type { SubjectRevocationRecord } from "@sts/revocation";

const STS = "https://sts.test";
const IDP = "https://idp.test";
const T = 1_800_000_000;
let server: NatsServerHandle;
let nats: NatsHandle;
let cache: RevocationCache;
let list: RevocationList;
let deps: SubjectRevocationDeps;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "subject-revocation-test" });
  const kv = await openBucket(nats, BUCKETS.revocations, { owner: true });
  cache = new RevocationCache(kv, { clockToleranceSeconds: 0, now: () => T });
  await cache.ready();
  await ensureEventsStream(nats);
  list = new RevocationList(kv, cache);
  deps = {
    relayIssuers: [IDP],
    subjectIssuers: [STS, IDP],
    revocations: list,
    // Gives up quickly when the events stream is missing.
    events: new EventPublisher(nats, { source: "test", retries: 1, retryWindowMs: 100, timeoutMs: 200 }),
    now: () => T,
    clockTolerance: 0,
    coversSeconds: 600,
    authenticate: () => Promise.resolve({ credential: "access_token", sub: "ops", client_id: "ops", jti: "op-jti" }),
  };
}, 30_000);

afterAll(async () => {
  cache?.stop();
  await nats?.close();
  await server?.stop();
});

/** Resolves once the replica's copy says the subject was revoked at `at`. */
const seenAt = (iss: string, sub: string, at: number): Promise<boolean> =>
  waitFor(() => list.subjectRevokedAt(iss, sub) === at, { timeoutMs: 5_000, message: "the revocation was not stored" });

describe("revokeSubject", () => {
  it("keeps the stored revocation when its event fails (temporarily_unavailable), and a retry stores the event once", async () => {
    // No events stream: every publish fails.
    await nats.jsm.streams.delete(EVENTS_STREAM.name);
    const request = { iss: IDP, sub: "alice", reason: "compromised", signed_out_at: "0" };
    await expect(revokeSubject(request, new Metadata(), deps)).rejects.toMatchObject({ code: "temporarily_unavailable" });
    // The safe side: the subject is revoked already, for the provider's alice only.
    await seenAt(IDP, "alice", T);
    expect(list.subjectRevokedAt(STS, "alice")).toBeUndefined();

    await ensureEventsStream(nats);
    expect(await revokeSubject(request, new Metadata(), deps)).toEqual({ revoked_at: String(T) });
    expect(await revokeSubject(request, new Metadata(), deps)).toEqual({ revoked_at: String(T) });
    const info = await nats.jsm.streams.info(EVENTS_STREAM.name);
    expect(info.state.messages).toBe(1);
    const stored = await nats.jsm.streams.getMessage(EVENTS_STREAM.name, { seq: info.state.last_seq });
    expect(stored?.json<{ type: string; data: unknown }>()).toMatchObject({
      type: "subject.revoked",
      data: { iss: IDP, sub: "alice", revoked_at: T, by: "ops", client_id: "ops", operator_jti: "op-jti", reason: "compromised" },
    });
  });

  it("never moves a stored revocation back in time (a replica whose clock is behind)", async () => {
    await expect(revokeSubject({ iss: STS, sub: "bob", reason: "", signed_out_at: "0" }, new Metadata(), { ...deps, now: () => T + 30 })).resolves.toEqual({
      revoked_at: String(T + 30),
    });
    await expect(revokeSubject({ iss: STS, sub: "bob", reason: "", signed_out_at: "0" }, new Metadata(), deps)).resolves.toEqual({
      revoked_at: String(T + 30),
    });
  });

  it("never moves it back when two replicas revoke at once: the write is a compare-and-set, read again when it loses", async () => {
    // Both calls read before either writes; the replica whose clock is ahead writes first, the one behind after it.
    let reads = 0;
    let bothRead: () => void = () => undefined;
    const readsDone = new Promise<void>((resolve) => (bothRead = resolve));
    let aheadWrote: () => void = () => undefined;
    const aheadDone = new Promise<void>((resolve) => (aheadWrote = resolve));
    const racing: SubjectRevocationDeps["revocations"] = {
      storedSubjectRevocation: async (iss, sub) => {
        const stored = await list.storedSubjectRevocation(iss, sub);
        if (++reads === 2) bothRead();
        await readsDone;
        return stored;
      },
      revokeSubject: async (record: SubjectRevocationRecord, revision) => {
        if (record.revoked_at === T) await aheadDone;
        const written = await list.revokeSubject(record, revision);
        if (record.revoked_at === T + 30) aheadWrote();
        return written;
      },
    };
    const request = { iss: STS, sub: "chuck", reason: "", signed_out_at: "0" };
    const [ahead, behind] = await Promise.all([
      revokeSubject(request, new Metadata(), { ...deps, revocations: racing, now: () => T + 30 }),
      revokeSubject(request, new Metadata(), { ...deps, revocations: racing }),
    ]);
    expect([ahead, behind]).toEqual([{ revoked_at: String(T + 30) }, { revoked_at: String(T + 30) }]);
    expect(reads).toBe(3);
    expect((await list.storedSubjectRevocation(STS, "chuck")).revokedAt).toBe(T + 30);
  });

  it("revokes from the clock tolerance ahead of now, so tokens a fast replica stamped just before are covered", async () => {
    await expect(revokeSubject({ iss: STS, sub: "dave", reason: "", signed_out_at: "0" }, new Metadata(), { ...deps, clockTolerance: 5 })).resolves.toEqual({
      revoked_at: String(T + 5),
    });
    await seenAt(STS, "dave", T + 5);
  });

  it("revokes as of the sign-out time given (a relayed logout's iat), however late the call, and never ahead of now", async () => {
    const t = { ...deps, clockTolerance: 5 };
    await expect(revokeSubject({ iss: IDP, sub: "erin", reason: "", signed_out_at: String(T - 300) }, new Metadata(), t)).resolves.toEqual({
      revoked_at: String(T - 295),
    });
    await seenAt(IDP, "erin", T - 295);
    // A time ahead of now is taken as now: no revocation reaches sessions not yet begun.
    await expect(revokeSubject({ iss: IDP, sub: "frank", reason: "", signed_out_at: String(T + 3600) }, new Metadata(), t)).resolves.toEqual({
      revoked_at: String(T + 5),
    });
  });

  it("revokes a subject as long as it may be in UTF-8 bytes (multi-byte characters)", async () => {
    const sub = `${"界".repeat(341)}a`;
    await expect(revokeSubject({ iss: STS, sub, reason: "", signed_out_at: "0" }, new Metadata(), deps)).resolves.toEqual({ revoked_at: String(T) });
    await seenAt(STS, sub, T);
  });
});

describe("parseRevokeSubject", () => {
  it("takes this stack's or a trusted issuer's subject, and refuses anything else as invalid_request without echoing it", () => {
    expect(parseRevokeSubject({ iss: STS, sub: "alice", reason: "", signed_out_at: "0" }, [STS, IDP])).toEqual({ iss: STS, sub: "alice" });
    expect(parseRevokeSubject({ iss: IDP, sub: "alice", reason: "why", signed_out_at: "0" }, [STS, IDP])).toEqual({ iss: IDP, sub: "alice", reason: "why" });
    // 1024 UTF-8 bytes is the most an identifier may take, whatever its characters.
    expect(parseRevokeSubject({ iss: STS, sub: `${"界".repeat(341)}a`, reason: "", signed_out_at: "0" }, [STS, IDP]).sub).toHaveLength(342);
    for (const bad of [
      { iss: "", sub: "alice", reason: "", signed_out_at: "0" },
      { iss: "https://elsewhere.test", sub: "alice", reason: "", signed_out_at: "0" },
      { iss: `${STS}/`, sub: "alice", reason: "", signed_out_at: "0" },
      { iss: STS, sub: "", reason: "", signed_out_at: "0" },
      { iss: STS, sub: "a".repeat(1025), reason: "", signed_out_at: "0" },
      { iss: STS, sub: "界".repeat(342), reason: "", signed_out_at: "0" },
      { iss: STS, sub: "alice", reason: "r".repeat(513), signed_out_at: "0" },
      // The reason goes to operators' terminals and the audit trail as one line, read as written.
      { iss: STS, sub: "alice", reason: "two\nlines", signed_out_at: "0" },
      { iss: STS, sub: "alice", reason: "evil\u202etxt.exe", signed_out_at: "0" },
      // A sign-out time before the epoch.
      { iss: IDP, sub: "alice", reason: "", signed_out_at: "-1" },
    ]) {
      expect(() => parseRevokeSubject(bad, [STS, IDP])).toThrow(expect.objectContaining({ code: "invalid_request" }));
    }
  });

  it("refuses a sub holding a control character, which no token names and whose event would act on auditors' terminals", () => {
    for (const sub of ["alice\n2024-01-01 subject.revoked bob", "alice\u001b]0;owned\u0007", "alice\u0000", "alice\u009b"]) {
      expect(() => parseRevokeSubject({ iss: STS, sub, reason: "", signed_out_at: "0" }, [STS, IDP])).toThrow(
        expect.objectContaining({ code: "invalid_request", description: "sub holds a control character" }),
      );
    }
    // Other Unicode, right-to-left text included, names a subject a trusted issuer may have vouched for.
    expect(parseRevokeSubject({ iss: IDP, sub: "Zoë 李 עִבְרִית", reason: "", signed_out_at: "0" }, [STS, IDP]).sub).toBe("Zoë 李 עִבְרִית");
  });
});
