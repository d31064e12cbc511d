/**
 * Refresh token rotation on a real NATS KV bucket (RFC 9700 §4.14.2): a store
 * failure during a rotation leaves the presented token usable for the
 * client's retry, and single use still holds.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KV } from "@nats-io/kv";
import { connectNats, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { startNats } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { OAuthError } from "@sts/errors";
import { RefreshTokens } from "./refresh-tokens.js";

let server: NatsServerHandle;
let nats: NatsHandle;
let bucketCount = 0;
const now = (): number => Math.floor(Date.now() / 1000);
const access = { access_jti: "at-1", access_exp: now() + 300 };

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "refresh-test" });
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.stop();
});

/**
 * The real bucket, with one chosen write failing as a lost connection would
 * make it fail: the fault lands exactly between two steps of a rotation.
 */
function withFault(kv: KV, fault: { op: "create" | "update"; keyPrefix: string; armed: boolean }): KV {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (fault.armed && prop === fault.op && String(args[0]).startsWith(fault.keyPrefix)) {
          fault.armed = false;
          return Promise.reject(new Error("injected: connection closed"));
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

async function family(fault?: { op: "create" | "update"; keyPrefix: string; armed: boolean }) {
  const kv = await openBucket(nats, `refresh_test_${++bucketCount}`);
  const store = new RefreshTokens(fault ? withFault(kv, fault) : kv, now);
  const first = await store.issue({ client_id: "c", sub: "alice", scope: ["read"], aud: ["api"], ...access }, 3600, store.newFamily());
  return { store, first: first.token };
}

describe("RefreshTokens.rotate", () => {
  it.each([
    ["writing the successor", { op: "create" as const, keyPrefix: "rt." }],
    ["moving the family pointer", { op: "update" as const, keyPrefix: "fam." }],
  ])("keeps the presented token usable for a retry when the store fails while %s", async (_step, where) => {
    const fault = { ...where, armed: false };
    const { store, first } = await family(fault);
    fault.armed = true;
    await expect(store.rotate(await store.check(first, "c"), access, 3600)).rejects.toMatchObject({ code: "temporarily_unavailable" });
    // The client retries with the same token: a retry, not a theft.
    const next = await store.rotate(await store.check(first, "c"), access, 3600);
    expect(await store.inspect(next.token)).toMatchObject({ sub: "alice", state: "active" });
    await expect(store.check(first, "c")).rejects.toMatchObject({ code: "invalid_grant" });
  });

  it("completes a rotation whose spent mark is lost, and still treats the old token's reuse as theft", async () => {
    const fault = { op: "update" as const, keyPrefix: "rt.", armed: false };
    const { store, first } = await family(fault);
    fault.armed = true;
    const next = await store.rotate(await store.check(first, "c"), access, 3600);
    expect(fault.armed).toBe(false);
    await expect(store.check(first, "c")).rejects.toMatchObject({ code: "invalid_grant", description: "refresh token reused: its family is revoked" });
    expect(await store.inspect(next.token)).toBeUndefined();
  });

  it("lets only one of two concurrent uses of a token rotate, and revokes the family (single use)", async () => {
    const { store, first } = await family();
    const [a, b] = await Promise.all([store.check(first, "c"), store.check(first, "c")]);
    const outcomes = await Promise.allSettled([store.rotate(a, access, 3600), store.rotate(b, access, 3600)]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
    const won = outcomes.find((o) => o.status === "fulfilled");
    const lost = outcomes.find((o) => o.status === "rejected");
    expect(lost?.status === "rejected" && lost.reason).toMatchObject({ code: "invalid_grant" });
    expect(won?.status === "fulfilled" && (await store.inspect(won.value.token))).toBeUndefined();
  });
});

describe("RefreshTokens and subject revocation", () => {
  it("refuses, and revokes, a family started at or before its subject's revocation, even past a rotation; a later family is fine", async () => {
    let clock = now();
    const revoked = new Map<string, number>();
    const kv = await openBucket(nats, `refresh_test_${++bucketCount}`);
    const store = new RefreshTokens(
      kv,
      () => clock,
      (sub) => Promise.resolve(revoked.get(sub)),
    );
    const issue = () => store.issue({ client_id: "c", sub: "alice", scope: ["read"], aud: ["api"], ...access }, 3600, store.newFamily());
    const old = await issue();
    const other = await store.issue({ client_id: "c", sub: "bob", scope: ["read"], aud: ["api"], ...access }, 3600, store.newFamily());
    clock += 10;
    // Rotated after its start: the successor is issued later, but its family is as old as ever.
    const rotated = await store.rotate(await store.check(old.token, "c"), access, 3600);
    revoked.set("alice", old.iat);
    await expect(store.check(rotated.token, "c")).rejects.toMatchObject({ code: "invalid_grant" });
    expect(await store.inspect(rotated.token)).toBeUndefined();
    // Revoked in the family's own record too: it stays refused once the subject's record is gone.
    revoked.delete("alice");
    await expect(store.check(rotated.token, "c")).rejects.toMatchObject({ code: "invalid_grant" });
    // Another subject's family and a family started after the revocation are untouched.
    revoked.set("alice", clock);
    expect((await store.check(other.token, "c")).grant.sub).toBe("bob");
    clock += 1;
    const fresh = await issue();
    expect((await store.check(fresh.token, "c")).grant.family_iat).toBe(clock);
  });

  it("refuses a family issued to a client revoked at or after its start (a revoked workload), whoever its user", async () => {
    const clock = now();
    const revoked = new Map<string, number>();
    const kv = await openBucket(nats, `refresh_test_${++bucketCount}`);
    const store = new RefreshTokens(
      kv,
      () => clock,
      (principal) => Promise.resolve(revoked.get(principal)),
    );
    const held = await store.issue({ client_id: "workload-w", sub: "dave", scope: ["read"], aud: ["api"], ...access }, 3600, store.newFamily());
    const elsewhere = await store.issue({ client_id: "workload-v", sub: "dave", scope: ["read"], aud: ["api"], ...access }, 3600, store.newFamily());
    revoked.set("workload-w", clock);
    await expect(store.check(held.token, "workload-w")).rejects.toMatchObject({ code: "invalid_grant" });
    // The same user's family with another client is untouched: the user was not revoked.
    expect((await store.check(elsewhere.token, "workload-v")).grant.sub).toBe("dave");
  });

  it("fails closed when the revocations cannot be read", async () => {
    const kv = await openBucket(nats, `refresh_test_${++bucketCount}`);
    const store = new RefreshTokens(kv, now, () => Promise.reject(new OAuthError("temporarily_unavailable", "revocation store unavailable")));
    const first = await store.issue({ client_id: "c", sub: "alice", scope: ["read"], aud: ["api"], ...access }, 3600, store.newFamily());
    await expect(store.check(first.token, "c")).rejects.toMatchObject({ code: "temporarily_unavailable" });
  });
});
