/**
 * RevokeSubject's order of writes on a real nats-server: the revocation is
 * stored before its event, so an event that cannot be stored leaves the
 * subject revoked and the call answering temporarily_unavailable; the retry
 * stores the same event once.
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

const STS = "https://sts.test";
const IDP = "https://idp.test";
const T = 1_800_000_000;
let server: NatsServerHandle;
let nats: NatsHandle;
let cache: RevocationCache;
let deps: SubjectRevocationDeps;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "subject-revocation-test" });
  const kv = await openBucket(nats, BUCKETS.revocations, { owner: true });
  cache = new RevocationCache(kv, { clockToleranceSeconds: 0, now: () => T });
  await cache.ready();
  deps = {
    issuer: STS,
    subjectIssuers: [STS, IDP],
    revocations: new RevocationList(kv, cache),
    // No events stream yet: every publish fails, quickly.
    events: new EventPublisher(nats, { source: "test", retries: 1, retryWindowMs: 100, timeoutMs: 200 }),
    now: () => T,
    coversSeconds: 600,
    authenticate: () => Promise.resolve({ credential: "access_token", sub: "ops", client_id: "ops", jti: "op-jti" }),
  };
}, 30_000);

afterAll(async () => {
  cache?.stop();
  await nats?.close();
  await server?.stop();
});

describe("revokeSubject", () => {
  it("keeps the stored revocation when its event fails (temporarily_unavailable), and a retry stores the event once", async () => {
    const request = { iss: IDP, sub: "alice", reason: "compromised" };
    await expect(revokeSubject(request, new Metadata(), deps)).rejects.toMatchObject({ code: "temporarily_unavailable" });
    // The safe side: the subject is revoked already, for the provider's alice only.
    await waitFor(() => deps.revocations.subjectRevokedAt(IDP, "alice") === T, { timeoutMs: 5_000, message: "the revocation was not stored" });
    expect(deps.revocations.subjectRevokedAt(STS, "alice")).toBeUndefined();

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
    await expect(revokeSubject({ iss: STS, sub: "bob", reason: "" }, new Metadata(), { ...deps, now: () => T + 30 })).resolves.toEqual({
      revoked_at: String(T + 30),
    });
    await expect(revokeSubject({ iss: STS, sub: "bob", reason: "" }, new Metadata(), deps)).resolves.toEqual({ revoked_at: String(T + 30) });
  });
});

describe("parseRevokeSubject", () => {
  it("takes this stack's or a trusted issuer's subject, and refuses anything else as invalid_request without echoing it", () => {
    expect(parseRevokeSubject({ iss: STS, sub: "alice", reason: "" }, [STS, IDP])).toEqual({ iss: STS, sub: "alice" });
    expect(parseRevokeSubject({ iss: IDP, sub: "alice", reason: "why" }, [STS, IDP])).toEqual({ iss: IDP, sub: "alice", reason: "why" });
    for (const bad of [
      { iss: "", sub: "alice", reason: "" },
      { iss: "https://elsewhere.test", sub: "alice", reason: "" },
      { iss: `${STS}/`, sub: "alice", reason: "" },
      { iss: STS, sub: "", reason: "" },
      { iss: STS, sub: "a".repeat(1025), reason: "" },
      { iss: STS, sub: "alice", reason: "r".repeat(513) },
    ]) {
      expect(() => parseRevokeSubject(bad, [STS, IDP])).toThrow(expect.objectContaining({ code: "invalid_request" }));
    }
  });
});
