/**
 * KeyService's writes on a real nats-server: a withdrawal marks the key, puts
 * its kid in the revocations every verifier watches, then stores its event;
 * an event that cannot be stored leaves the key withdrawn (the safe side) and
 * the call answering temporarily_unavailable, and the retry stores the event
 * once. Rotate answers with the waiting successor; the schedule's rotations
 * are recorded too. Bad input, an unknown kid and a ring on a JWK file are
 * refused, changing nothing.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Metadata } from "@grpc/grpc-js";
import { exportJWK, generateKeyPair } from "jose";
import { parseMasterKey } from "@sts/keys";
import type { SigningKeyRing } from "@sts/keys";
import { BUCKETS, EVENTS_STREAM, EVENT_TYPES, EventPublisher, connectNats, ensureEventsStream, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { RevocationCache, RevocationList, UNREADABLE_WITHDRAWAL_BY, keyWithdrawalKey } from "@sts/revocation";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import type { Logger } from "@sts/telemetry";
import { ringOnBucket } from "./ring.fixture.js";
import {
  COMPLETION_GRACE_SECONDS,
  completeWithdrawals,
  keyMaintenance,
  listKeys,
  newCompletionState,
  parseWithdrawKey,
  rotateKey,
  withdrawKey,
} from "./key-management.js";
import { TokenMinter } from "./mint.js";
import type { MinterDeps } from "./mint.js";
import type { OpaqueTokens } from "./opaque-tokens.js";
import type { KeyManagementDeps } from "./key-management.js";

const STS = "https://sts.test";
const T = 1_800_000_000;
const policy = { rotateAfter: 1000, maxTokenLifetime: 300, clockTolerance: 30 };
const master = parseMasterKey(randomBytes(32).toString("base64url"));
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as Logger;
let server: NatsServerHandle;
let nats: NatsHandle;
let revocations: RevocationList;
let revocationCache: RevocationCache;
/** Whether the revocations bucket itself (not a watched copy, which may lag) holds a withdrawal of `kid`. */
let kidRecorded: (kid: string) => Promise<boolean>;
/** The withdrawal record of `kid` in the revocations bucket itself. */
let storedWithdrawal: (kid: string) => Promise<unknown>;
/** Writes a raw value into the revocations bucket, as a half-written record or another release would leave it. */
let putRaw: (key: string, value: string) => Promise<unknown>;
const caches: Array<{ stop(): void }> = [];
let buckets = 0;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "key-management-test" });
  const kv = await openBucket(nats, BUCKETS.revocations, { owner: true });
  revocationCache = new RevocationCache(kv, { clockToleranceSeconds: 0, now: () => T });
  await revocationCache.ready();
  revocations = new RevocationList(kv, revocationCache);
  kidRecorded = async (kid) => (await kv.get(keyWithdrawalKey(STS, kid)))?.operation === "PUT";
  storedWithdrawal = async (kid) => (await kv.get(keyWithdrawalKey(STS, kid)))?.json();
  putRaw = (key, value) => kv.put(key, value);
}, 30_000);

afterAll(async () => {
  for (const c of caches) c.stop();
  revocationCache?.stop();
  await nats?.close();
  await server?.stop();
});

beforeEach(async () => {
  // Each test counts its own events.
  await nats.jsm.streams.delete(EVENTS_STREAM.name).catch(() => undefined);
  await ensureEventsStream(nats);
});

/** A ring on a bucket of its own (or on `bucket`, beside another ring), at `clock`, with its KeyService deps. */
async function setup(
  clock: { t: number },
  ringOptions: { jwkFile?: string; storeWaitMs?: number; bucket?: string } = {},
): Promise<{ ring: SigningKeyRing; deps: KeyManagementDeps; cache: { stop(): void } }> {
  const { ring, cache } = await ringOnBucket(nats, ringOptions.bucket ?? `${BUCKETS.keys}_km${++buckets}`, caches, {
    policy,
    ...(ringOptions.jwkFile ? { jwkFile: ringOptions.jwkFile } : { masterKey: master }),
    ...(ringOptions.storeWaitMs !== undefined && { storeWaitMs: ringOptions.storeWaitMs }),
    now: () => clock.t,
  });
  const deps: KeyManagementDeps = {
    issuer: STS,
    ring,
    revocations,
    // Gives up quickly when the events stream is missing.
    events: new EventPublisher(nats, { source: "test", retries: 1, retryWindowMs: 100, timeoutMs: 200 }),
    coversSeconds: policy.maxTokenLifetime + policy.clockTolerance,
    now: () => clock.t,
    scopes: { read: "keys:read", manage: "keys:manage" },
    authenticate: () => Promise.resolve({ credential: "access_token", sub: "ops", client_id: "ops", jti: "op-jti" }),
  };
  return { ring, deps, cache };
}

/** The events stored, oldest first, with their raw JSON. */
async function events(): Promise<Array<{ type: string; data: Record<string, unknown>; raw: string }>> {
  const info = await nats.jsm.streams.info(EVENTS_STREAM.name);
  const out = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await nats.jsm.streams.getMessage(EVENTS_STREAM.name, { seq });
    if (m) out.push({ ...m.json<{ type: string; data: Record<string, unknown> }>(), raw: m.string() });
  }
  return out;
}

const code = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => "ok",
    (err: unknown) => (err as { code?: string }).code ?? String(err),
  );

describe("Withdraw", () => {
  it("withdraws the signing key, revokes its kid for every verifier, names the successor, and records it once however often it is repeated", async () => {
    const clock = { t: T };
    const { ring, deps } = await setup(clock);
    const kid = ring.signingKey().kid;
    const answer = await withdrawKey({ kid, reason: "private key in a public repo" }, new Metadata(), deps);
    expect(answer.key).toMatchObject({ kid, state: "withdrawn", withdrawn_at: String(T), withdrawn_by: "ops", reason: "private key in a public repo" });
    expect(answer.successor).not.toBe(kid);
    expect(ring.signingKey().kid).toBe(answer.successor);
    await waitFor(() => revocations.isKeyWithdrawn(STS, kid), { timeoutMs: 5_000, message: "the kid is not in the revocations" });
    expect(revocations.isKeyWithdrawn("https://other.test", kid)).toBe(false);
    // The operator's words and token go with the revocation, for an issuer that has to complete the withdrawal.
    const recorded = { iss: STS, kid, revoked_at: T, exp: T + 330, by: "ops", reason: "private key in a public repo", operator_jti: "op-jti" };
    expect(await storedWithdrawal(kid)).toEqual(recorded);

    clock.t += 3;
    // Repeated by the same operator with another token (another session).
    const again = { ...deps, authenticate: () => Promise.resolve({ credential: "access_token" as const, sub: "ops", client_id: "ops", jti: "op-jti-2" }) };
    expect(await withdrawKey({ kid, reason: "again" }, new Metadata(), again)).toEqual(answer);
    // The repeat's words and token go nowhere: the kid record and the event keep the withdrawal's own.
    expect(await storedWithdrawal(kid)).toEqual(recorded);
    const stored = (await events()).filter((e) => e.type === "key.withdrawn");
    expect(stored).toHaveLength(1);
    expect(stored[0]?.data).toMatchObject({
      kid,
      alg: "ES256",
      by: "ops",
      reason: "private key in a public repo",
      successor: answer.successor,
      operator_jti: "op-jti",
    });
    expect(stored[0]?.raw).not.toMatch(/"d":|sealed|"ct":/);
    // Both activated in the same second here: their order is the kids'.
    const listed = Object.fromEntries((await listKeys(new Metadata(), deps)).keys?.map((k) => [k.kid, k.state]) ?? []);
    expect(listed).toEqual({ [kid]: "withdrawn", [answer.successor ?? ""]: "signing" });
  });

  it("revokes the kid before it marks the key withdrawn: verifiers with a cached JWKS refuse its tokens even if the rest fails", async () => {
    const { ring, deps } = await setup({ t: T });
    const kid = ring.signingKey().kid;
    const statesAtRevocation: string[] = [];
    const inOrder: KeyManagementDeps = {
      ...deps,
      revocations: {
        withdrawKey: async (record) => {
          statesAtRevocation.push(ring.statuses().find((s) => s.key.kid === record.kid)?.state ?? "unknown");
          await revocations.withdrawKey(record);
        },
      },
    };
    await withdrawKey({ kid, reason: "leaked" }, new Metadata(), inOrder);
    // First while it still signs; then once more, in the recorded withdrawal's own terms.
    expect(statesAtRevocation).toEqual(["signing", "withdrawn"]);
    await waitFor(() => revocations.isKeyWithdrawn(STS, kid), { timeoutMs: 5_000, message: "the kid is not in the revocations" });
  });

  it("keeps the key withdrawn when its event fails (temporarily_unavailable), and a retry stores the event once", async () => {
    const { ring, deps } = await setup({ t: T });
    const kid = ring.signingKey().kid;
    await nats.jsm.streams.delete(EVENTS_STREAM.name);
    expect(await code(withdrawKey({ kid, reason: "leaked" }, new Metadata(), deps))).toBe("temporarily_unavailable");
    // The safe side: withdrawn already, and its kid revoked.
    expect(ring.jwks().keys.map((k) => k.kid)).not.toContain(kid);
    await waitFor(() => revocations.isKeyWithdrawn(STS, kid), { timeoutMs: 5_000, message: "the kid is not in the revocations" });

    await ensureEventsStream(nats);
    await withdrawKey({ kid, reason: "leaked" }, new Metadata(), deps);
    await withdrawKey({ kid, reason: "leaked" }, new Metadata(), deps);
    expect((await events()).map((e) => e.type)).toEqual(["key.withdrawn"]);
  });

  it("answers temporarily_unavailable while this replica does not show the withdrawal, which is recorded and announced all the same", async () => {
    const { ring, deps, cache } = await setup({ t: T }, { storeWaitMs: 200 });
    const kid = ring.signingKey().kid;
    // Its watch stalls: this replica would go on publishing the key for a while.
    cache.stop();
    expect(await code(withdrawKey({ kid, reason: "leaked" }, new Metadata(), deps))).toBe("temporarily_unavailable");
    await waitFor(() => revocations.isKeyWithdrawn(STS, kid), { timeoutMs: 5_000, message: "the kid is not in the revocations" });
    expect((await events()).filter((e) => e.type === "key.withdrawn").map((e) => e.data.kid)).toEqual([kid]);
  });

  it("refuses an unknown kid (not_found), a missing or malformed kid or reason (invalid_request), changing nothing", async () => {
    const { ring, deps } = await setup({ t: T });
    const before = ring.statuses();
    expect(await code(withdrawKey({ kid: "no-such-kid", reason: "x" }, new Metadata(), deps))).toBe("not_found");
    expect(await code(withdrawKey({ kid: "a.b>", reason: "x" }, new Metadata(), deps))).toBe("not_found");
    const kid = ring.signingKey().kid;
    for (const bad of [
      { kid: "", reason: "x" },
      { kid, reason: "" },
      { kid, reason: "   " },
      { kid, reason: "r".repeat(513) },
      { kid, reason: "two\nlines" },
      { kid: "k".repeat(257), reason: "x" },
    ]) {
      expect(await code(withdrawKey(bad, new Metadata(), deps))).toBe("invalid_request");
    }
    expect(() => parseWithdrawKey({ kid, reason: "r".repeat(512) })).not.toThrow();
    expect(ring.statuses()).toEqual(before);
    expect(await events()).toEqual([]);
    for (const refused of ["no-such-kid", kid]) expect(await kidRecorded(refused)).toBe(false);
  });
});

/** The issuer's minter on `ring` and the test's events, at T, with the given extra deps (JWTs only: no opaque store). */
const minterOf = (ring: SigningKeyRing, deps: KeyManagementDeps, extra: Partial<MinterDeps> = {}): TokenMinter =>
  new TokenMinter({ issuer: STS, ring, opaque: {} as OpaqueTokens, events: deps.events, now: () => T, ...extra });

/** Whether `kid` of this issuer is in the watched revocations: the minter's check, as main.ts wires it. */
const withdrawnHere = (kid: string): boolean => revocations.isKeyWithdrawn(STS, kid);

/** A client_credentials JWT for the app. */
const APP_TOKEN = {
  sub: "app",
  clientId: "app",
  audience: ["svc-a"],
  scope: ["a"],
  ttl: 60,
  format: "jwt" as const,
  grantType: "client_credentials",
  eventType: EVENT_TYPES.TOKEN_ISSUED,
};

/**
 * Puts `kid` in the revocations as a Withdraw call does first, then waits until the watched copy has it: a call cut
 * off there. Without `reason`, as an earlier release wrote it (no reason, no operator_jti).
 */
async function revokeOnly(kid: string, reason?: string, iss = STS): Promise<void> {
  const said = reason !== undefined && { reason, operator_jti: "op-jti" };
  await revocations.withdrawKey({ iss, kid, revoked_at: T, exp: T + 330, by: "ops", ...said });
  await waitFor(() => revocationCache.isKeyWithdrawn(iss, kid), { timeoutMs: 5_000, message: "the kid is not in the revocations" });
}

describe("a withdrawal cut off after its revocation", () => {
  it("is completed by the issuer in the operator's words: a successor signs, the key leaves the JWKS, and one key.withdrawn is stored", async () => {
    const clock = { t: T };
    const { ring, deps } = await setup(clock);
    const kid = ring.signingKey().kid;
    await revokeOnly(kid, "leaked in CI logs");
    // The ring alone would go on signing with it.
    expect(ring.signingKey().kid).toBe(kid);
    const completion = { ...deps, revocations, logger: silent };

    // Within its grace the record is the Withdraw call's, which may still be at work: no second writer.
    clock.t += 2;
    expect(await completeWithdrawals(completion)).toEqual([]);
    expect(ring.signingKey().kid).toBe(kid);
    clock.t = T + COMPLETION_GRACE_SECONDS;
    expect(await completeWithdrawals(completion)).toEqual([kid]);
    const successor = ring.signingKey().kid;
    expect(successor).not.toBe(kid);
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual([successor]);
    expect((await listKeys(new Metadata(), deps)).keys?.find((k) => k.kid === kid)).toMatchObject({
      state: "withdrawn",
      withdrawn_at: String(T + COMPLETION_GRACE_SECONDS),
      withdrawn_by: "ops",
      reason: "leaked in CI logs",
    });
    expect(await completeWithdrawals(completion)).toEqual([]);
    // The operator's retry finds it done and stores nothing more.
    expect(await withdrawKey({ kid, reason: "leaked in CI logs" }, new Metadata(), deps)).toMatchObject({ successor });
    const stored = (await events()).filter((e) => e.type === "key.withdrawn");
    expect(stored).toHaveLength(1);
    expect(stored[0]?.data).toEqual({
      kid,
      alg: "ES256",
      withdrawn_at: T + COMPLETION_GRACE_SECONDS,
      by: "ops",
      reason: "leaked in CI logs",
      successor,
      client_id: "ops",
      // The cut-off call's token, which its kid record kept.
      operator_jti: "op-jti",
    });
  });

  it("is completed and announced even while this replica's copy of the keys lags behind the store", async () => {
    const clock = { t: T };
    const { ring, deps, cache } = await setup(clock, { storeWaitMs: 200 });
    const kid = ring.signingKey().kid;
    await revokeOnly(kid, "leaked in CI logs");
    cache.stop();
    clock.t = T + COMPLETION_GRACE_SECONDS;
    expect(await completeWithdrawals({ ...deps, revocations, logger: silent })).toEqual([kid]);
    expect((await events()).filter((e) => e.type === "key.withdrawn").map((e) => [e.data.kid, e.data.operator_jti])).toEqual([[kid, "op-jti"]]);
  });

  it("stores the key.withdrawn of a completion that JetStream could not take at the next pass, once", async () => {
    const clock = { t: T + COMPLETION_GRACE_SECONDS };
    const { ring, deps } = await setup(clock);
    const kid = ring.signingKey().kid;
    await revokeOnly(kid, "leaked");
    const completion = { ...deps, revocations, logger: silent };
    const state = newCompletionState();
    await nats.jsm.streams.delete(EVENTS_STREAM.name);
    expect(await code(completeWithdrawals(completion, state))).toBe("temporarily_unavailable");
    // Withdrawn all the same (the safe side): later passes skip it, so the event is owed from the completer's memory.
    expect(ring.signingKey().kid).not.toBe(kid);
    await ensureEventsStream(nats);
    expect(await completeWithdrawals(completion, state)).toEqual([]);
    expect(await completeWithdrawals(completion, state)).toEqual([]);
    expect((await events()).map((e) => [e.type, e.data.kid])).toEqual([["key.withdrawn", kid]]);
  });

  it("is completed, by nobody it can name, when the kid's record cannot be read: the minter does not stay stopped", async () => {
    const { ring, deps } = await setup({ t: T });
    const kid = ring.signingKey().kid;
    // Half written, or a newer release's shape: it still withdraws the kid its key names.
    await putRaw(keyWithdrawalKey(STS, kid), "{half-written");
    await waitFor(() => revocationCache.isKeyWithdrawn(STS, kid), { timeoutMs: 5_000, message: "the unreadable record withdrew nothing" });
    expect(await completeWithdrawals({ ...deps, revocations, logger: silent })).toEqual([kid]);
    expect(ring.signingKey().kid).not.toBe(kid);
    const stored = (await events()).filter((e) => e.type === "key.withdrawn");
    expect(stored.map((e) => e.data)).toEqual([expect.objectContaining({ kid, by: UNREADABLE_WITHDRAWAL_BY, successor: ring.signingKey().kid })]);
  });

  it("leaves alone a key whose kid another issuer revoked", async () => {
    const { ring, deps } = await setup({ t: T });
    const kid = ring.signingKey().kid;
    await revokeOnly(kid, "not ours", "https://other.test");
    expect(await completeWithdrawals({ ...deps, revocations, logger: silent })).toEqual([]);
    expect(ring.signingKey().kid).toBe(kid);
    expect(await events()).toEqual([]);
  });

  it("stops the minter signing with the revoked key (temporarily_unavailable, nothing issued) until the withdrawal is completed", async () => {
    const clock = { t: T };
    const { ring, deps } = await setup(clock);
    const kid = ring.signingKey().kid;
    const asked: string[] = [];
    const minter = minterOf(ring, deps, { signingKeyWithdrawn: withdrawnHere, onSigningKeyWithdrawn: (k) => asked.push(k) });
    const input = APP_TOKEN;
    expect((await minter.mint(input)).token).toBeTruthy();
    await revokeOnly(kid);
    expect(await code(minter.mint(input))).toBe("temporarily_unavailable");
    expect(() => minter.idToken({ sub: "app", clientId: "app", ttl: 60 })).toThrow(/being withdrawn/);
    expect(asked).toEqual([kid, kid]);
    expect((await events()).map((e) => e.type)).toEqual(["token.issued"]);

    // A revocation written before reasons were recorded with it still completes, under a reason saying so.
    clock.t += COMPLETION_GRACE_SECONDS;
    expect(await completeWithdrawals({ ...deps, revocations, logger: silent })).toEqual([kid]);
    const minted = await minter.mint(input);
    expect(JSON.parse(Buffer.from(minted.token.split(".")[0] ?? "", "base64url").toString()).kid).toBe(ring.signingKey().kid);
    expect((await listKeys(new Metadata(), deps)).keys?.find((k) => k.kid === kid)?.reason).toMatch(/completed by the issuer/);
  });
});

describe("the minter and tokens.max_token_bytes", () => {
  it("refuses (invalid_request) a JWT access token larger than every verifier accepts, recording nothing", async () => {
    const { ring, deps } = await setup({ t: T });
    const minter = minterOf(ring, deps, { maxTokenBytes: 1024 });
    const input = APP_TOKEN;
    const fits = await minter.mint(input);
    expect(fits.token.length).toBeLessThanOrEqual(1024);
    const many = Array.from({ length: 20 }, (_, i) => `https://service-${i}.mesh.example/api`);
    await expect(minter.mint({ ...input, audience: many })).rejects.toMatchObject({
      code: "invalid_request",
      description: expect.stringMatching(/more than the 1024 every verifier accepts \(tokens.max_token_bytes\)/),
    });
    expect((await events()).map((e) => e.data.aud)).toEqual([["svc-a"]]);
  });
});

describe("a revoked kid on a ring on keys.jwk_file", () => {
  it("stops the minter, and is reported once: only replacing the file ends it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sts-km-jwk-"));
    try {
      const file = join(dir, "signing.jwk");
      const pair = await generateKeyPair("ES256", { extractable: true });
      const kid = `file-${randomBytes(6).toString("hex")}`;
      writeFileSync(file, JSON.stringify({ ...(await exportJWK(pair.privateKey)), kid, alg: "ES256" }), { mode: 0o600 });
      const { ring, deps } = await setup({ t: T + COMPLETION_GRACE_SECONDS }, { jwkFile: file });
      await revokeOnly(kid, "leaked");
      const errors: string[] = [];
      const logger = { ...silent, error: (_o: unknown, message: string) => errors.push(message) } as unknown as Logger;
      const state = newCompletionState();
      for (let i = 0; i < 3; i++) expect(await completeWithdrawals({ ...deps, revocations, logger }, state)).toEqual([]);
      expect(errors).toEqual([expect.stringMatching(/keys.jwk_file is revoked/)]);
      const minter = minterOf(ring, deps, { signingKeyWithdrawn: withdrawnHere });
      expect(() => minter.idToken({ sub: "app", clientId: "app", ttl: 60 })).toThrow(/being withdrawn/);
      expect(await events()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Withdraw of a former key file's kid, back on the master key", () => {
  // An operator's kid may hold dots and slashes; the file's key stays published until its tokens expire, and when it
  // leaked (the common reason to leave a file) it must be withdrawable like any other.
  it.each(["ops.2024/k1", "k=1/2"])("withdraws %s: it leaves the JWKS and its kid is revoked", async (kid) => {
    const dir = mkdtempSync(join(tmpdir(), "sts-km-kids-"));
    try {
      const file = join(dir, "signing.jwk");
      const pair = await generateKeyPair("ES256", { extractable: true });
      writeFileSync(file, JSON.stringify({ ...(await exportJWK(pair.privateKey)), kid, alg: "ES256" }), { mode: 0o600 });
      const clock = { t: T };
      const bucket = `${BUCKETS.keys}_km${++buckets}`;
      await setup(clock, { jwkFile: file, bucket });
      clock.t += 60;
      const { ring, deps } = await setup(clock, { bucket });
      // Still published, as the predecessor of the ring's own key.
      expect(ring.jwks().keys.map((k) => k.kid)).toContain(kid);
      const answer = await withdrawKey({ kid, reason: "the key file leaked" }, new Metadata(), deps);
      expect(answer.key).toMatchObject({ kid, state: "withdrawn", withdrawn_by: "ops" });
      expect(ring.jwks().keys.map((k) => k.kid)).not.toContain(kid);
      expect(await revocations.storedKeyWithdrawal(STS, kid)).toMatchObject({ kid, by: "ops" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Rotate", () => {
  it("makes a pre-published successor, answers a repeat with it, and records key.rotated once, by the operator", async () => {
    const { ring, deps } = await setup({ t: T });
    const first = ring.signingKey().kid;
    const made = await rotateKey(new Metadata(), deps);
    expect(made).toMatchObject({ activate_at: String(T + 65), created: true });
    expect(await rotateKey(new Metadata(), deps)).toEqual({ ...made, created: false });
    expect(ring.signingKey().kid).toBe(first);
    expect((await listKeys(new Metadata(), deps)).keys?.map((k) => [k.kid, k.state])).toEqual([
      [first, "signing"],
      [made.kid, "upcoming"],
    ]);
    const stored = await events();
    expect(stored.map((e) => [e.type, e.data.kid, e.data.predecessor, e.data.by])).toEqual([["key.rotated", made.kid, first, "ops"]]);
  });

  it("records the schedule's rotation as by schedule, publishing again at the next check an event that could not be stored", async () => {
    const clock = { t: T };
    const { ring, deps } = await setup(clock);
    const first = ring.signingKey().kid;
    const step = keyMaintenance(ring, deps.events, silent);
    clock.t += policy.rotateAfter;
    await nats.jsm.streams.delete(EVENTS_STREAM.name);
    await step();
    const waiting = ring.statuses().find((s) => s.state === "upcoming")?.key.kid;
    expect(waiting).toBeDefined();
    await ensureEventsStream(nats);
    await step();
    await step();
    expect((await events()).map((e) => [e.type, e.data.kid, e.data.predecessor, e.data.by])).toEqual([["key.rotated", waiting, first, "schedule"]]);
  });
});

describe("a ring on keys.jwk_file", () => {
  it("refuses Rotate and Withdraw with failed_precondition, and lists its key", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sts-km-jwk-"));
    try {
      const file = join(dir, "signing.jwk");
      const pair = await generateKeyPair("ES256", { extractable: true });
      writeFileSync(file, JSON.stringify({ ...(await exportJWK(pair.privateKey)), kid: "from-file", alg: "ES256" }), { mode: 0o600 });
      const { deps } = await setup({ t: T }, { jwkFile: file });
      expect(await code(rotateKey(new Metadata(), deps))).toBe("failed_precondition");
      expect(await code(withdrawKey({ kid: "from-file", reason: "leaked" }, new Metadata(), deps))).toBe("failed_precondition");
      expect(await kidRecorded("from-file")).toBe(false);
      await expect(rotateKey(new Metadata(), deps)).rejects.toMatchObject({ description: expect.stringMatching(/replacing that file/) });
      expect((await listKeys(new Metadata(), deps)).keys?.map((k) => [k.kid, k.state])).toEqual([["from-file", "signing"]]);
      expect(await events()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
