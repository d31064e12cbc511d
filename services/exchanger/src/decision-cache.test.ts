import { describe, expect, it } from "vitest";
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

  it("does not keep a decision older than the announced revision", async () => {
    let calls = 0;
    const cache = new DecisionCache(async () => {
      calls++;
      return allow; // revision 1
    }, 60_000);
    cache.invalidate(2n);
    await cache.decide(req);
    await cache.decide(req);
    expect(calls).toBe(2);
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
