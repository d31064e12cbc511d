/**
 * Refresh token rotation on a real NATS KV bucket (RFC 9700 §4.14.2): a store
 * failure during a rotation leaves the presented token usable for the
 * client's retry, and single use still holds. Every revocation of a family is
 * handed to the recorder (which stores its event) before the answer that
 * reports it, and a failed recording leaves it to be recorded by a retry.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KV } from "@nats-io/kv";
import { connectNats, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { startNats } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { OAuthError, unavailable } from "@sts/errors";
import { EVENT_TYPES, recordEventId } from "@sts/nats";
import { DEFAULT_FAMILY_LIFETIME, FAMILY_REVOKED_REASONS, MAX_FAMILY_ACCESS, RefreshTokens, familyRevokedEvent } from "./refresh-tokens.js";
import type { FamilyRevocation, RecordFamilyRevocation, RefreshRevocation, RefreshTokenOptions } from "./refresh-tokens.js";

let server: NatsServerHandle;
let nats: NatsHandle;
let bucketCount = 0;
const now = (): number => Math.floor(Date.now() / 1000);
const access = { access_jti: "at-1", access_exp: now() + 300 };
/** The access token issued with a successor. */
const access2 = { access_jti: "at-2", access_exp: now() + 600 };

/** A recorder that keeps what it was handed (`attempts`, refused ones too) and what it recorded; `refuse` makes the next calls fail as a refused event would. */
function recorder(): { record: RecordFamilyRevocation; attempts: FamilyRevocation[]; recorded: FamilyRevocation[]; refuse: number } {
  const r = {
    attempts: [] as FamilyRevocation[],
    recorded: [] as FamilyRevocation[],
    refuse: 0,
    record: (revocation: FamilyRevocation): Promise<void> => {
      r.attempts.push(revocation);
      if (r.refuse > 0) {
        r.refuse--;
        return Promise.reject(unavailable("event store unavailable"));
      }
      r.recorded.push(revocation);
      return Promise.resolve();
    },
  };
  return r;
}

/** For tests about rotation alone. */
const ignore: RecordFamilyRevocation = () => Promise.resolve();

/** The family revocation an RFC 7009 revocation answered, if it revoked one. */
const revocationOf = async (revoked: Promise<RefreshRevocation>): Promise<FamilyRevocation | undefined> => {
  const r = await revoked;
  return "revocation" in r ? r.revocation : undefined;
};

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "refresh-test" });
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.stop();
});

/**
 * One call of the bucket failing as a lost connection makes it fail, once armed: the request never reached the
 * server, or (`landed`) it was carried out and only its answer was lost, as SECURITY.md warns a timed-out write may be.
 */
interface Fault {
  op: "create" | "update" | "get";
  keyPrefix: string;
  armed: boolean;
  landed?: boolean;
}

/** The real bucket with `faults` injected, each once, the first armed one that matches a call. */
function withFault(kv: KV, ...faults: Fault[]): KV {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      const call = (args: unknown[]): unknown => (value as (...a: unknown[]) => unknown).apply(target, args);
      return (...args: unknown[]) => {
        const fault = faults.find((f) => f.armed && prop === f.op && String(args[0]).startsWith(f.keyPrefix));
        if (!fault) return call(args);
        fault.armed = false;
        return Promise.resolve(fault.landed ? call(args) : undefined).then(() => Promise.reject(new Error("injected: connection closed")));
      };
    },
  });
}

/** A fault of `op` on the keys starting with `keyPrefix`, armed later. */
const fault = (op: Fault["op"], keyPrefix: string, landed = false): Fault => ({ op, keyPrefix, armed: false, landed });

async function family(...faults: Fault[]) {
  const kv = await openBucket(nats, `refresh_test_${++bucketCount}`);
  const store = new RefreshTokens(withFault(kv, ...faults), now);
  const first = await store.issue({ client_id: "c", sub: "alice", scope: ["read"], aud: ["api"], ...access }, 3600, store.newFamily());
  return { store, first: first.token };
}

/** A family whose first rotation, with `faults` armed once its token is checked, failed as temporarily_unavailable. */
async function failedRotation(faults: Fault[], issued = access) {
  const made = await family(...faults);
  const checked = await made.store.check(made.first, "c", ignore);
  for (const f of faults) f.armed = true;
  await expect(made.store.rotate(checked, issued, 3600, ignore)).rejects.toMatchObject({ code: "temporarily_unavailable" });
  return made;
}

describe("RefreshTokens.rotate", () => {
  it.each([
    ["writing the successor", () => [fault("create", "rt.")]],
    ["moving the family pointer, at every try", () => [fault("update", "fam."), fault("update", "fam.")]],
    ["moving the family pointer, and reading it back", () => [fault("update", "fam."), fault("get", "fam.")]],
  ])("keeps the presented token usable for a retry when the store fails while %s", async (_step, faults) => {
    const armed = faults();
    const { store, first } = await failedRotation(armed);
    for (const f of armed) f.armed = false;
    // The client retries with the same token: a retry, not a theft.
    const next = await store.rotate(await store.check(first, "c", ignore), access, 3600, ignore);
    expect(await store.inspect(next.token)).toMatchObject({ sub: "alice", state: "active" });
    await expect(store.check(first, "c", ignore)).rejects.toMatchObject({ code: "invalid_grant" });
  });

  it("writes a spent mark whose first write failed again before answering, and still treats the old token's reuse as theft", async () => {
    const spentMark = fault("update", "rt.");
    const { store, first } = await family(spentMark);
    spentMark.armed = true;
    const next = await store.rotate(await store.check(first, "c", ignore), access, 3600, ignore);
    expect(spentMark.armed).toBe(false);
    // The rotated token can no longer be used: introspection does not call it active (RFC 7662 §2.2), its successor it does.
    expect(await store.inspect(first)).toBeUndefined();
    expect(await store.inspect(next.token)).toMatchObject({ sub: "alice", state: "active" });
    await expect(store.check(first, "c", ignore)).rejects.toMatchObject({ code: "invalid_grant", description: "refresh token reused: its family is revoked" });
    expect(await store.inspect(next.token)).toBeUndefined();
  });

  it("completes a rotation whose family write was stored but whose answer was lost, instead of failing it into a revoked family on the retry", async () => {
    const lostAnswer = fault("update", "fam.", true);
    const { store, first } = await family(lostAnswer);
    const checked = await store.check(first, "c", ignore);
    lostAnswer.armed = true;
    const next = await store.rotate(checked, access, 3600, ignore);
    expect(lostAnswer.armed).toBe(false);
    expect(await store.inspect(next.token)).toMatchObject({ sub: "alice", state: "active" });
    // Answered, so the presented token is spent: presenting it again is a second use.
    await expect(store.check(first, "c", ignore)).rejects.toMatchObject({ description: "refresh token reused: its family is revoked" });
  });

  it.each([
    ["the family write was stored, its answer lost, and the family could not be read back", () => [fault("update", "fam.", true), fault("get", "fam.")]],
    ["the presented token's spent mark could not be written", () => [fault("update", "rt."), fault("update", "rt.")]],
  ])("lets the retry rotate when %s (the successor was never answered), and treats a later use as theft", async (_case, faults) => {
    const armed = faults();
    const { store, first } = await failedRotation(armed, { access_jti: "at-lost", access_exp: access.access_exp });
    expect(armed.map((f) => f.armed)).toEqual(armed.map(() => false));
    // Still the client's to use: introspection says so, and its retry rotates.
    expect(await store.inspect(first)).toMatchObject({ sub: "alice", state: "active" });
    const r = recorder();
    const next = await store.rotate(await store.check(first, "c", r.record), access2, 3600, r.record);
    expect(await store.inspect(next.token)).toMatchObject({ sub: "alice", state: "active" });
    expect(r.attempts).toEqual([]);
    // Answered this time: the token is spent, and a replay of it revokes the family with every access token it issued.
    await expect(store.check(first, "c", r.record)).rejects.toMatchObject({ description: "refresh token reused: its family is revoked" });
    expect(r.recorded.map((x) => x.access.map((a) => a.jti))).toEqual([["at-1", "at-lost", "at-2"]]);
    expect(await store.inspect(next.token)).toBeUndefined();
  });

  it("lets only one of a retry and a replay of a token whose rotation was not answered rotate, and revokes the family (single use)", async () => {
    const { store, first } = await failedRotation([fault("update", "rt."), fault("update", "rt.")]);
    const [a, b] = await Promise.all([store.check(first, "c", ignore), store.check(first, "c", ignore)]);
    const outcomes = await Promise.allSettled([store.rotate(a, access2, 3600, ignore), store.rotate(b, access2, 3600, ignore)]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
    const won = outcomes.find((o) => o.status === "fulfilled");
    expect(won?.status === "fulfilled" && (await store.inspect(won.value.token))).toBeUndefined();
  });

  it("lets only one of two concurrent uses of a token rotate, and revokes the family (single use)", async () => {
    const { store, first } = await family();
    const [a, b] = await Promise.all([store.check(first, "c", ignore), store.check(first, "c", ignore)]);
    const outcomes = await Promise.allSettled([store.rotate(a, access, 3600, ignore), store.rotate(b, access, 3600, ignore)]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
    const won = outcomes.find((o) => o.status === "fulfilled");
    const lost = outcomes.find((o) => o.status === "rejected");
    expect(lost?.status === "rejected" && lost.reason).toMatchObject({ code: "invalid_grant" });
    expect(won?.status === "fulfilled" && (await store.inspect(won.value.token))).toBeUndefined();
  });
});

/** One call of the bucket held back once armed: `reached` resolves when it is, and it goes on (unchanged) on `release()`. */
interface Hold {
  op: "update";
  keyPrefix: string;
  armed: boolean;
  reached: Promise<void>;
  release: () => void;
  /** Called by the bucket when the call arrives; resolves once it may go on. */
  arrive: () => Promise<void>;
}

function hold(op: Hold["op"], keyPrefix: string): Hold {
  let reach = (): void => undefined;
  let release = (): void => undefined;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  return {
    op,
    keyPrefix,
    armed: false,
    reached,
    release: () => release(),
    arrive: () => {
      reach();
      return released;
    },
  };
}

/** The real bucket with the first call matching the armed `h` held until it is released. */
function withHold(kv: KV, h: Hold): KV {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const call = (): unknown => (value as (...a: unknown[]) => unknown).apply(target, args);
        if (!(h.armed && prop === h.op && String(args[0]).startsWith(h.keyPrefix))) return call();
        h.armed = false;
        return h.arrive().then(call);
      };
    },
  });
}

describe("two uses of one refresh token, the second checked while the first is between its commit and its spent mark", () => {
  it("answers only one of them and revokes the family (RFC 9700 §4.14.2: single use)", async () => {
    const spentMark = hold("update", "rt.");
    const kv = await openBucket(nats, `refresh_test_${++bucketCount}`);
    const store = new RefreshTokens(withHold(kv, spentMark), now);
    const { token: first } = await store.issue({ client_id: "c", sub: "alice", scope: ["read"], aud: ["api"], ...access }, 3600, store.newFamily());
    const r = recorder();
    // The client's use: checked, then rotated up to its spent mark, which is held (the family already names its successor).
    const checkedA = await store.check(first, "c", r.record);
    spentMark.armed = true;
    const rotatingA = store.rotate(checkedA, access, 3600, r.record);
    await spentMark.reached;
    // A thief's use of the same token now reads the family moved on from it, by a rotation not yet answered.
    const checkedB = await store.check(first, "c", r.record);
    const [usedB] = await Promise.allSettled([store.rotate(checkedB, access2, 3600, r.record)]);
    spentMark.release();
    const [usedA] = await Promise.allSettled([rotatingA]);
    const outcomes = [usedA, usedB];
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
    const lost = outcomes.find((o) => o.status === "rejected");
    expect(lost?.status === "rejected" && lost.reason).toMatchObject({ code: "invalid_grant", description: "refresh token reused: its family is revoked" });
    const won = outcomes.find((o) => o.status === "fulfilled");
    expect(won?.status === "fulfilled" && (await store.inspect(won.value.token))).toBeUndefined();
    expect(r.recorded.map((x) => x.reason)).toEqual([FAMILY_REVOKED_REASONS.REUSE]);
  });
});

/**
 * A family of "c" for alice on its own bucket, with a clock the test moves and `revokedSubjects` for the subject check;
 * `options` for the store besides that check. `began` is when its first token (`first`, expiring at `firstExp`) was issued.
 */
async function clockedFamily(options: Omit<RefreshTokenOptions, "subjectRevokedAt"> = {}) {
  const clock = { now: now() };
  const began = clock.now;
  const revokedSubjects = new Map<string, number>();
  const kv = await openBucket(nats, `refresh_test_${++bucketCount}`);
  const store = new RefreshTokens(kv, () => clock.now, { ...options, subjectRevokedAt: (sub) => Promise.resolve(revokedSubjects.get(sub)) });
  const first = await store.issue({ client_id: "c", sub: "alice", scope: ["read"], aud: ["api"], ...access }, 3600, store.newFamily());
  return { store, first: first.token, firstExp: first.exp, began, family: first.family, clock, revokedSubjects };
}

describe("a family's absolute lifetime (tokens.refresh_family_lifetime)", () => {
  it("ends a family its lifetime after its first token, however often it is rotated", async () => {
    const { store, first, firstExp, began, clock } = await clockedFamily({ familyLifetime: 100 });
    expect(firstExp).toBe(began + 100);
    clock.now += 60;
    const second = await store.rotate(await store.check(first, "c", ignore), access, 3600, ignore);
    // Each token's own lifetime starts at its issue; the family's does not move.
    expect(second.exp).toBe(began + 100);
    clock.now += 39;
    const third = await store.rotate(await store.check(second.token, "c", ignore), access, 3600, ignore);
    expect(third.exp).toBe(began + 100);
    clock.now += 1;
    await expect(store.check(third.token, "c", ignore)).rejects.toMatchObject({ code: "invalid_grant", description: "refresh token expired" });
  });

  it("keeps a token's own lifetime when the family's ends later, and bounds a family to 30 days when none is given", async () => {
    const clock = { now: now() };
    const kv = await openBucket(nats, `refresh_test_${++bucketCount}`);
    const bounded = new RefreshTokens(kv, () => clock.now, { familyLifetime: 100 });
    const short = await bounded.issue({ client_id: "c", sub: "alice", scope: ["read"], aud: ["api"], ...access }, 30, bounded.newFamily());
    expect(short.exp).toBe(clock.now + 30);
    const unset = new RefreshTokens(kv, () => clock.now);
    const long = await unset.issue({ client_id: "c", sub: "alice", scope: ["read"], aud: ["api"], ...access }, 90 * 86_400, unset.newFamily());
    expect(long.exp).toBe(clock.now + DEFAULT_FAMILY_LIFETIME);
    expect(DEFAULT_FAMILY_LIFETIME).toBe(30 * 86_400);
  });
});

describe("RefreshTokens and subject revocation", () => {
  it("refuses, and revokes, a family started at or before its subject's revocation, even past a rotation; a later family is fine", async () => {
    let clock = now();
    const revoked = new Map<string, number>();
    const kv = await openBucket(nats, `refresh_test_${++bucketCount}`);
    const store = new RefreshTokens(kv, () => clock, { subjectRevokedAt: (sub) => Promise.resolve(revoked.get(sub)) });
    const issue = () => store.issue({ client_id: "c", sub: "alice", scope: ["read"], aud: ["api"], ...access }, 3600, store.newFamily());
    const old = await issue();
    const other = await store.issue({ client_id: "c", sub: "bob", scope: ["read"], aud: ["api"], ...access }, 3600, store.newFamily());
    clock += 10;
    // Rotated after its start: the successor is issued later, but its family is as old as ever.
    const rotated = await store.rotate(await store.check(old.token, "c", ignore), access, 3600, ignore);
    revoked.set("alice", old.iat);
    await expect(store.check(rotated.token, "c", ignore)).rejects.toMatchObject({ code: "invalid_grant" });
    expect(await store.inspect(rotated.token)).toBeUndefined();
    // Revoked in the family's own record too: it stays refused once the subject's record is gone.
    revoked.delete("alice");
    await expect(store.check(rotated.token, "c", ignore)).rejects.toMatchObject({ code: "invalid_grant" });
    // Another subject's family and a family started after the revocation are untouched.
    revoked.set("alice", clock);
    expect((await store.check(other.token, "c", ignore)).grant.sub).toBe("bob");
    clock += 1;
    const fresh = await issue();
    expect((await store.check(fresh.token, "c", ignore)).grant.family_iat).toBe(clock);
  });

  it("refuses a family issued to a client revoked at or after its start (a revoked workload), whoever its user", async () => {
    const clock = now();
    const revoked = new Map<string, number>();
    const kv = await openBucket(nats, `refresh_test_${++bucketCount}`);
    const store = new RefreshTokens(kv, () => clock, { subjectRevokedAt: (principal) => Promise.resolve(revoked.get(principal)) });
    const held = await store.issue({ client_id: "workload-w", sub: "dave", scope: ["read"], aud: ["api"], ...access }, 3600, store.newFamily());
    const elsewhere = await store.issue({ client_id: "workload-v", sub: "dave", scope: ["read"], aud: ["api"], ...access }, 3600, store.newFamily());
    revoked.set("workload-w", clock);
    await expect(store.check(held.token, "workload-w", ignore)).rejects.toMatchObject({ code: "invalid_grant" });
    // The same user's family with another client is untouched: the user was not revoked.
    expect((await store.check(elsewhere.token, "workload-v", ignore)).grant.sub).toBe("dave");
  });

  it("fails closed when the revocations cannot be read", async () => {
    const kv = await openBucket(nats, `refresh_test_${++bucketCount}`);
    const store = new RefreshTokens(kv, now, {
      subjectRevokedAt: () => Promise.reject(new OAuthError("temporarily_unavailable", "revocation store unavailable")),
    });
    const first = await store.issue({ client_id: "c", sub: "alice", scope: ["read"], aud: ["api"], ...access }, 3600, store.newFamily());
    await expect(store.check(first.token, "c", ignore)).rejects.toMatchObject({ code: "temporarily_unavailable" });
  });
});

describe("recording every revocation of a family before answering", () => {
  it("records a replayed spent token's family with who presented it, which token it was, and the newest access token (RFC 9700 §4.14.2)", async () => {
    const { store, first, family } = await clockedFamily();
    const r = recorder();
    const next = await store.rotate(await store.check(first, "c", r.record), access2, 3600, r.record);
    expect(r.attempts).toEqual([]);
    await expect(store.check(first, "c", r.record)).rejects.toMatchObject({
      code: "invalid_grant",
      description: "refresh token reused: its family is revoked",
    });
    expect(r.recorded).toEqual([
      {
        family,
        client_id: "c",
        sub: "alice",
        reason: FAMILY_REVOKED_REASONS.REUSE,
        revoked_at: expect.any(Number) as number,
        by: "c",
        presented_access_jti: "at-1",
        access: [
          { jti: "at-1", exp: access.access_exp },
          { jti: "at-2", exp: access2.access_exp },
        ],
      },
    ]);
    // Recorded once: presenting the family's tokens again records nothing more.
    await expect(store.check(next.token, "c", r.record)).rejects.toMatchObject({ code: "invalid_grant", description: "refresh token family is revoked" });
    await expect(store.check(first, "c", r.record)).rejects.toMatchObject({ code: "invalid_grant" });
    expect(r.attempts).toHaveLength(1);
  });

  it("revokes with the family the access tokens of every rotation, not only the presented and the newest, and forgets expired ones as it rotates", async () => {
    const { store, first, clock } = await clockedFamily();
    const r = recorder();
    const t0 = clock.now;
    expect(access.access_exp).toBeLessThanOrEqual(t0 + 300);
    // A thief refreshes three times with a stolen token (at-2, at-3, at-4); at-1's token, presented again, revokes the family.
    let current = first;
    const rotate = async (jti: string, exp: number) =>
      (current = (await store.rotate(await store.check(current, "c", r.record), { access_jti: jti, access_exp: exp }, 3600, r.record)).token);
    await rotate("at-2", t0 + 300);
    await rotate("at-3", t0 + 600);
    // 400 s past at-1's and at-2's expiry, past every verifier's tolerance: the family's list no longer keeps them.
    clock.now = t0 + 700;
    await rotate("at-4", t0 + 1600);
    await expect(store.check(first, "c", r.record)).rejects.toMatchObject({ description: "refresh token reused: its family is revoked" });
    // The presented token's own access token is named all the same (the recorder skips revoking an expired one).
    expect(r.recorded.map((x) => x.access.map((a) => a.jti))).toEqual([["at-3", "at-4", "at-1"]]);
  });

  it("keeps the newest MAX_FAMILY_ACCESS access tokens of a family that refreshes faster than they expire", async () => {
    const { store, first } = await clockedFamily();
    const r = recorder();
    let current = first;
    for (let i = 2; i <= MAX_FAMILY_ACCESS + 5; i++) {
      const checked = await store.check(current, "c", r.record);
      current = (await store.rotate(checked, { access_jti: `at-${i}`, access_exp: access.access_exp }, 3600, r.record)).token;
    }
    expect((await revocationOf(store.revoke(current, "c", r.record)))?.access.map((a) => a.jti)).toEqual(
      Array.from({ length: MAX_FAMILY_ACCESS }, (_, i) => `at-${i + 6}`),
    );
  });

  it("answers temporarily_unavailable while a reuse cannot be recorded; the family stays revoked and the next presentation records the revocation stored then", async () => {
    const { store, first, clock } = await clockedFamily();
    const r = recorder();
    const next = await store.rotate(await store.check(first, "c", r.record), access2, 3600, r.record);
    r.refuse = 1;
    await expect(store.check(first, "c", r.record)).rejects.toMatchObject({ code: "temporarily_unavailable" });
    expect(await store.inspect(next.token)).toBeUndefined();
    clock.now += 7;
    // The legitimate client's newest token: refused, and the pending revocation (its time, its reason) recorded first.
    await expect(store.check(next.token, "c", r.record)).rejects.toMatchObject({ code: "invalid_grant", description: "refresh token family is revoked" });
    expect(r.attempts).toHaveLength(2);
    expect(r.recorded).toEqual([r.attempts[0]]);
    expect(r.recorded[0]).toMatchObject({ reason: FAMILY_REVOKED_REASONS.REUSE, presented_access_jti: "at-1", revoked_at: clock.now - 7 });
  });

  it("records a family its client revoked (RFC 7009) even when its access tokens expired long ago, naming them, once", async () => {
    const { store, first, family, clock } = await clockedFamily();
    const r = recorder();
    const next = await store.rotate(await store.check(first, "c", r.record), access2, 3600, r.record);
    clock.now = access2.access_exp + 120;
    const revoked = await revocationOf(store.revoke(next.token, "c", r.record));
    const revocation = {
      family,
      client_id: "c",
      sub: "alice",
      reason: FAMILY_REVOKED_REASONS.CLIENT_REQUEST,
      revoked_at: clock.now,
      by: "c",
      presented_access_jti: "at-2",
      access: [
        { jti: "at-1", exp: access.access_exp },
        { jti: "at-2", exp: access2.access_exp },
      ],
    };
    expect(revoked).toEqual(revocation);
    expect(r.recorded).toEqual([revocation]);
    // Revoking again (another token of the family, later) finds the revocation standing: nothing more to record.
    clock.now += 5;
    expect(await revocationOf(store.revoke(first, "c", r.record))).toEqual(revocation);
    expect(r.attempts).toHaveLength(1);
  });

  it("answers temporarily_unavailable while an RFC 7009 revocation cannot be recorded; its retry records the revocation stored by the first try", async () => {
    const { store, first, clock } = await clockedFamily();
    const r = recorder();
    r.refuse = 1;
    await expect(store.revoke(first, "c", r.record)).rejects.toMatchObject({ code: "temporarily_unavailable" });
    await expect(store.check(first, "c", r.record)).rejects.toMatchObject({ code: "invalid_grant" });
    clock.now += 3;
    expect(await revocationOf(store.revoke(first, "c", r.record))).toBeDefined();
    expect(r.recorded).toEqual([r.attempts[0]]);
    expect(familyRevokedEvent(r.recorded[0] as FamilyRevocation).id).toBe(familyRevokedEvent(r.attempts[0] as FamilyRevocation).id);
  });

  it("records a family refused because its subject was revoked, with no access token of its own to revoke (the subject's revocation covers them)", async () => {
    const { store, first, family, clock, revokedSubjects } = await clockedFamily();
    const r = recorder();
    revokedSubjects.set("alice", clock.now);
    await expect(store.check(first, "c", r.record)).rejects.toMatchObject({
      code: "invalid_grant",
      description: "refresh token family is revoked: its subject was signed out",
    });
    expect(r.recorded).toEqual([
      {
        family,
        client_id: "c",
        sub: "alice",
        reason: FAMILY_REVOKED_REASONS.SUBJECT_REVOKED,
        revoked_at: clock.now,
        by: "c",
        presented_access_jti: "at-1",
        access: [],
      },
    ]);
  });

  it("records a reuse the rotation's compare-and-set finds (two uses racing), naming the winner's access token as the newest", async () => {
    const { store, first } = await clockedFamily();
    const r = recorder();
    const [a, b] = await Promise.all([store.check(first, "c", r.record), store.check(first, "c", r.record)]);
    const outcomes = await Promise.allSettled([
      store.rotate(a, access2, 3600, r.record),
      store.rotate(b, { access_jti: "at-3", access_exp: now() + 900 }, 3600, r.record),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
    const winner = outcomes[0]?.status === "fulfilled" ? "at-2" : "at-3";
    expect(r.recorded).toHaveLength(1);
    expect(r.recorded[0]).toMatchObject({ reason: FAMILY_REVOKED_REASONS.REUSE, presented_access_jti: "at-1" });
    expect(r.recorded[0]?.access.map((x) => x.jti)).toEqual(["at-1", winner]);
  });

  it("answers a token presented by another client as an unknown one, and leaves its family alone (RFC 6749 §6)", async () => {
    const { store, first } = await clockedFamily();
    const r = recorder();
    const unknown = await store.check("str_not-a-token-of-ours", "c", r.record).catch((err: unknown) => err);
    const another = await store.check(first, "someone-else", r.record).catch((err: unknown) => err);
    expect(unknown).toBeInstanceOf(OAuthError);
    expect(another).toBeInstanceOf(OAuthError);
    expect([(another as OAuthError).code, (another as OAuthError).description]).toEqual([(unknown as OAuthError).code, (unknown as OAuthError).description]);
    expect(r.attempts).toEqual([]);
    expect((await store.check(first, "c", r.record)).grant.sub).toBe("alice");
  });

  it("leaves a family alone when another client revokes one of its tokens, telling it apart from an unknown token only to the caller's log (RFC 7009 §2.2)", async () => {
    const { store, first } = await clockedFamily();
    const r = recorder();
    expect(await store.revoke(first, "someone-else", r.record)).toEqual({ ignored: "another_client" });
    expect(await store.revoke("str_not-a-token-of-ours", "someone-else", r.record)).toEqual({ ignored: "unknown" });
    expect(r.attempts).toEqual([]);
    expect(await store.inspect(first)).toMatchObject({ sub: "alice", state: "active" });
    expect((await store.check(first, "c", r.record)).grant.sub).toBe("alice");
  });
});

describe("familyRevokedEvent", () => {
  it("makes the event id from the stored revocation alone, and its data of ids, never a token", () => {
    const revocation: FamilyRevocation = {
      family: "fam-1",
      client_id: "c",
      sub: "alice",
      reason: FAMILY_REVOKED_REASONS.REUSE,
      revoked_at: 1_800_000_000,
      by: "c",
      presented_access_jti: "at-1",
      access: [{ jti: "at-2", exp: 1_800_000_300 }],
    };
    const event = familyRevokedEvent(revocation);
    expect(event.id).toBe(recordEventId(EVENT_TYPES.REFRESH_FAMILY_REVOKED, ["fam-1", 1_800_000_000, "reuse", "c"]));
    expect(event.time.toISOString()).toBe(new Date(1_800_000_000_000).toISOString());
    expect(event.data).toEqual({
      refresh_family: "fam-1",
      client_id: "c",
      sub: "alice",
      reason: "reuse",
      revoked_by: "c",
      revoked_at: 1_800_000_000,
      presented_access_jti: "at-1",
      access_jtis: ["at-2"],
    });
  });
});
