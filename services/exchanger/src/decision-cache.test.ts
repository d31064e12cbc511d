import { describe, expect, it, vi } from "vitest";
import { OAuthError } from "@sts/errors";
import type { DecideRequest, Decision__Output } from "@sts/proto";
import { DecisionCache } from "./decision-cache.js";

const allow: Decision__Output = {
  allow: true,
  policy_ids: ["p"],
  allowed_scopes: ["b"],
  default_scopes: [],
  max_depth: 0,
  reason: "",
  policy_revision: "1",
  errors: [],
};
const req: DecideRequest = { client_id: "A", audience: "B", requested_scopes: ["b"], depth: 1 };

describe("DecisionCache", () => {
  it("asks once for concurrent identical questions and caches the answer", async () => {
    let calls = 0;
    const cache = new DecisionCache(async () => {
      calls++;
      return allow;
    }, 60_000);
    await Promise.all([cache.decide(req), cache.decide(req), cache.decide(req)]);
    await cache.decide(req);
    expect(calls).toBe(1);
  });

  it("asks again after invalidation (policy.updated)", async () => {
    let calls = 0;
    const cache = new DecisionCache(async () => {
      calls++;
      return allow;
    }, 60_000);
    await cache.decide(req);
    cache.invalidate();
    await cache.decide(req);
    expect(calls).toBe(2);
  });

  it("asks again while a replica answers from before the announced revision, and keeps only the current answer", async () => {
    const answers = [allow, allow, { ...allow, allow: false, policy_revision: "2" }];
    let calls = 0;
    const cache = new DecisionCache(async () => answers[Math.min(calls++, answers.length - 1)] as Decision__Output, 60_000);
    cache.invalidate(2n);
    expect((await cache.decide(req)).allow).toBe(false);
    expect(calls).toBe(3);
    expect((await cache.decide(req)).allow).toBe(false);
    expect(calls).toBe(3);
  });

  it("fails closed when every answer stays behind the announced revision", async () => {
    let calls = 0;
    const cache = new DecisionCache(async () => {
      calls++;
      return allow; // revision 1
    }, 60_000);
    cache.invalidate(2n);
    await expect(cache.decide(req)).rejects.toMatchObject({ code: "temporarily_unavailable" });
    expect(calls).toBe(4);
    expect(cache.size).toBe(0);
  });

  it("does not let a question asked after policy.updated join one asked before it", async () => {
    const asked: Array<(d: Decision__Output) => void> = [];
    const cache = new DecisionCache(() => new Promise<Decision__Output>((resolve) => asked.push(resolve)), 60_000);
    const before = cache.decide(req);
    cache.invalidate(2n);
    const after = cache.decide(req);
    expect(asked).toHaveLength(2);
    asked[0]?.({ ...allow, policy_revision: "2" });
    asked[1]?.({ ...allow, allow: false, policy_revision: "2" });
    expect((await before).allow).toBe(true);
    expect((await after).allow).toBe(false);
    // The later answer is the one kept.
    expect((await cache.decide(req)).allow).toBe(false);
    expect(asked).toHaveLength(2);
  });

  it("stops serving a decision once any answer comes from a newer revision, policy.updated heard or not", async () => {
    // The reviewer's case: k1 allowed at 41; the policy now forbids it at 42, but the announcement was lost.
    let revision = 41;
    const asked: string[] = [];
    const cache = new DecisionCache(async (r) => {
      asked.push(r.audience ?? "");
      return { ...allow, allow: !(revision >= 42 && r.audience === "B"), policy_revision: String(revision) };
    }, 60_000);
    const k1 = req;
    const k2: DecideRequest = { ...req, audience: "C" };
    expect((await cache.decide(k1)).allow).toBe(true);
    revision = 42;
    expect((await cache.decide(k2)).policy_revision).toBe("42");
    expect((await cache.decide(k1)).allow).toBe(false);
    // Decisions made at the newest revision are still served from the cache.
    await cache.decide(k1);
    await cache.decide(k2);
    expect(asked).toEqual(["B", "C", "B"]);
  });

  it("asks again when an answer in flight comes from before a revision another answer has since shown", async () => {
    const asked: Array<{ audience: string; answer: (d: Decision__Output) => void }> = [];
    const cache = new DecisionCache((r) => new Promise<Decision__Output>((answer) => asked.push({ audience: r.audience ?? "", answer })), 60_000);
    const k1 = cache.decide(req);
    const k2 = cache.decide({ ...req, audience: "C" });
    asked[1]?.answer({ ...allow, policy_revision: "42" });
    await k2;
    // Made at 41, it arrives after the cache has seen 42: neither the caller nor the cache may keep it.
    asked[0]?.answer({ ...allow, policy_revision: "41" });
    await vi.waitFor(() => expect(asked).toHaveLength(3), { timeout: 5000 });
    expect(asked[2]?.audience).toBe("B");
    asked[2]?.answer({ ...allow, allow: false, policy_revision: "42" });
    expect((await k1).allow).toBe(false);
    expect((await cache.decide(req)).allow).toBe(false);
    expect(asked).toHaveLength(3);
  });

  it("expires entries after the TTL", async () => {
    let now = 0;
    let calls = 0;
    const cache = new DecisionCache(
      async () => {
        calls++;
        return allow;
      },
      1000,
      () => now,
    );
    await cache.decide(req);
    now = 1001;
    await cache.decide(req);
    expect(calls).toBe(2);
  });

  it("fails closed with temporarily_unavailable when the policy service fails and nothing is cached", async () => {
    const cache = new DecisionCache(async () => {
      throw new Error("connection refused");
    }, 60_000);
    await expect(cache.decide(req)).rejects.toMatchObject({ code: "temporarily_unavailable" });
    expect(cache.size).toBe(0);
  });

  it("passes through a client error from the policy service", async () => {
    const cache = new DecisionCache(async () => {
      throw new OAuthError("invalid_request", "bad");
    }, 60_000);
    await expect(cache.decide(req)).rejects.toMatchObject({ code: "invalid_request" });
  });
});
