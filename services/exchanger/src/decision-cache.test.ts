import { describe, expect, it, vi } from "vitest";
import { OAuthError } from "@sts/errors";
import type { DecideRequest, Decision__Output } from "@sts/proto";
import { parentGone } from "@sts/grpc";
import { DecisionCache, announcedVersion, comparePolicyVersions } from "./decision-cache.js";

const allow: Decision__Output = {
  allow: true,
  policy_ids: ["p"],
  allowed_scopes: ["b"],
  default_scopes: [],
  max_depth: 0,
  reason: "",
  policy_revision: "1",
  errors: [],
  policy_generation: "",
};
const req: DecideRequest = { client_id: "A", audience: "B", requested_scopes: ["b"], depth: 1 };

describe("DecisionCache", () => {
  it("asks again for a caller that joined a question ended by its first asker going (its deadline bounds the Decide)", async () => {
    let asked = 0;
    const cache = new DecisionCache(
      () => (++asked === 1 ? new Promise((_, reject) => setTimeout(() => reject(parentGone()), 20)) : Promise.resolve(allow)),
      60_000,
    );
    const [first, joined] = await Promise.allSettled([cache.decide(req), cache.decide(req)]);
    expect(first).toMatchObject({ status: "rejected", reason: { code: "temporarily_unavailable" } });
    expect(joined).toEqual({ status: "fulfilled", value: allow });
    expect(asked).toBe(2);
  });

  it("does not ask again when the question failed for any other reason", async () => {
    let asked = 0;
    const cache = new DecisionCache(() => (++asked, Promise.reject(new OAuthError("temporarily_unavailable", "policy down"))), 60_000);
    const settled = await Promise.allSettled([cache.decide(req), cache.decide(req)]);
    expect(settled.map((s) => s.status)).toEqual(["rejected", "rejected"]);
    expect(asked).toBe(1);
  });

  it.each(["invalid_client", "unauthorized_client"] as const)(
    "turns Decide's %s (the exchanger's own identity refused) into server_error, never the caller's fault",
    async (refusal) => {
      const cache = new DecisionCache(() => Promise.reject(new OAuthError(refusal, "caller's certificate is not the exchanger's")), 60_000);
      await expect(cache.decide(req)).rejects.toMatchObject({ code: "server_error" });
    },
  );

  it("keeps its decisions within its memory bound, however large each question is (a made-up audience per call, each denial cached)", async () => {
    const deny: Decision__Output = { ...allow, allow: false, allowed_scopes: [] };
    const maxBytes = 1024 * 1024;
    const cache = new DecisionCache(async () => deny, 60_000, Date.now, maxBytes);
    // A subject token near a large tokens.max_token_bytes: some 40 KB of audiences in every question about it.
    const audience = Array.from({ length: 80 }, (_, i) => `https://api-${i}.example/${"x".repeat(480)}`);
    const question = (i: number): DecideRequest => ({
      ...req,
      audience: `made-up-${i}`,
      subject: { sub: "alice", client_id: "c", iss: "i", scopes: [], audience },
    });
    for (let i = 0; i < 100; i++) expect((await cache.decide(question(i))).allow).toBe(false);
    expect(cache.size).toBeGreaterThan(0);
    expect(cache.size).toBeLessThanOrEqual(Math.floor(maxBytes / JSON.stringify(question(0)).length));
  });

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

  it("serves a cached decision while the policy service refuses, only until its TTL; then fails closed", async () => {
    let now = 0;
    let refusing = false;
    const cache = new DecisionCache(
      async () => {
        if (refusing) throw new OAuthError("temporarily_unavailable", "this policy replica cannot confirm its policies are current");
        return allow;
      },
      1000,
      () => now,
    );
    await cache.decide(req);
    refusing = true;
    now = 1000 - 1;
    expect((await cache.decide(req)).allow).toBe(true);
    now = 1000;
    await expect(cache.decide(req)).rejects.toMatchObject({ code: "temporarily_unavailable" });
  });

  it("keeps no refusal: the next identical question asks the policy service again", async () => {
    const answers: Array<() => Decision__Output> = [
      () => {
        throw new OAuthError("temporarily_unavailable", "this policy replica cannot confirm its policies are current");
      },
      () => ({ ...allow, allow: false }),
    ];
    let calls = 0;
    const cache = new DecisionCache(async () => (answers[calls++] ?? answers[1]!)(), 60_000);
    await expect(cache.decide(req)).rejects.toMatchObject({ code: "temporarily_unavailable" });
    expect(cache.size).toBe(0);
    expect((await cache.decide(req)).allow).toBe(false);
    expect(calls).toBe(2);
  });
});

describe("DecisionCache across a policies bucket made anew", () => {
  // Generations are the digits of the bucket's creation time (trailing zeros of the fraction left out).
  const OLD = "2025010112000012";
  const NEW = "202501011300005";
  const at = (generation: string, revision: number, allowed = true): Decision__Output => ({
    ...allow,
    allow: allowed,
    policy_generation: generation,
    policy_revision: String(revision),
  });

  it("takes the new bucket's answers though their revisions restart from 1, and refuses the old bucket's once one came", async () => {
    let answer = at(OLD, 40);
    let calls = 0;
    const cache = new DecisionCache(async () => {
      calls++;
      return answer;
    }, 60_000);
    await cache.decide({ ...req, audience: "C" });
    // The operator made the bucket anew: seeded again, revisions from 1, and this question now denied.
    answer = at(NEW, 3, false);
    expect((await cache.decide(req)).allow).toBe(false);
    expect(calls).toBe(2);
    // Cached at the new generation, and the old bucket's decision no longer served.
    expect((await cache.decide(req)).allow).toBe(false);
    expect(calls).toBe(2);
    // A replica still answering from the old bucket, at a higher revision, is behind: asked again, then refused.
    answer = at(OLD, 41);
    await expect(cache.decide({ ...req, audience: "C" })).rejects.toMatchObject({
      code: "temporarily_unavailable",
      cause: { description: `policy service answered from revision 41 of generation ${OLD}, behind revision 3 of generation ${NEW}` },
    });
  });

  it("on a policy.updated of the new bucket, drops the old bucket's decisions and serves the new bucket's lower revisions", async () => {
    let answer = at(OLD, 40);
    const cache = new DecisionCache(async () => answer, 60_000);
    await cache.decide(req);
    const announced = announcedVersion({ id: `policy.updated.${NEW}.6`, data: { revision: "6" } });
    expect(announced).toEqual({ generation: NEW, revision: 6n });
    cache.invalidate(announced);
    // The old bucket's answer is behind what was announced, whatever its revision.
    await expect(cache.decide(req)).rejects.toMatchObject({ code: "temporarily_unavailable" });
    answer = at(NEW, 6, false);
    expect((await cache.decide(req)).allow).toBe(false);
  });

  it("orders generations by time, whatever the length of their fraction, and versions naming none by revision alone", () => {
    const v = (generation: string, revision: bigint) => ({ generation, revision });
    expect(comparePolicyVersions(v(OLD, 40n), v(NEW, 1n))).toBeLessThan(0);
    expect(comparePolicyVersions(v("20250101120000", 9n), v("202501011200001", 1n))).toBeLessThan(0);
    expect(comparePolicyVersions(v("2025010112000015", 1n), v("202501011200001", 9n))).toBeGreaterThan(0);
    // The same instant written with and without a trailing zero: the revision decides.
    expect(comparePolicyVersions(v("2025010112000010", 2n), v("202501011200001", 1n))).toBeGreaterThan(0);
    expect(comparePolicyVersions(v("", 5n), v(NEW, 4n))).toBeGreaterThan(0);
    expect(comparePolicyVersions(v(NEW, 4n), v(NEW, 4n))).toBe(0);
  });

  it("reads a policy.updated's version from its data and id; a bare revision without a well-formed id", () => {
    expect(announcedVersion({ id: "policy.updated.123.7", data: { revision: "7" } })).toEqual({ generation: "123", revision: 7n });
    expect(announcedVersion({ id: "something-else", data: { revision: "7" } })).toEqual({ generation: "", revision: 7n });
    expect(announcedVersion({ data: { revision: "seven" } })).toBeUndefined();
    expect(announcedVersion({})).toBeUndefined();
  });
});

describe("DecisionCache with exchange.decision_cache_ttl 0 (no decision reused)", () => {
  it("asks the policy service every time and holds no decision it would never serve", async () => {
    let asked = 0;
    const cache = new DecisionCache(() => {
      asked++;
      return Promise.resolve(allow);
    }, 0);
    for (let i = 0; i < 100; i++) {
      const request: DecideRequest = { client_id: "A", audience: `aud-${i % 10}`, requested_scopes: ["b"], depth: 1 };
      expect((await cache.decide(request)).allow).toBe(true);
    }
    expect({ asked, held: cache.size }).toEqual({ asked: 100, held: 0 });
  });
});
