import { afterEach, describe, expect, it, vi } from "vitest";
import { OAuthError } from "@sts/errors";
import type { EventPublisher } from "@sts/nats";
import type { CallerIdentity } from "@sts/mesh";
import { createLogger } from "@sts/telemetry";
import { LivePolicySet } from "./live-policies.js";
import { policyBucket } from "./policy-bucket.fixture.js";
import type { StoredPolicy } from "./policy-store.js";

const alice: CallerIdentity = { credential: "access_token", sub: "alice", client_id: "ops-alice", jti: "j-alice" };
/** An operator's Put: its policy.updated is the record of who made it, retried until stored. */
const put: StoredPolicy = {
  id: "a-to-b",
  text: 'permit (principal == Client::"A", action == Action::"exchange", resource == Audience::"B");',
  description: "",
  source: "api",
  updated_at: 0,
  author: alice,
};
const logger = createLogger("policy-test", { level: "silent" });

/** A publisher that can never store (NATS closed at shutdown), counting the attempts. */
function closedPublisher(): { events: EventPublisher; attempts: () => number } {
  let attempts = 0;
  const events = {
    publish: () => {
      attempts++;
      return Promise.reject(new Error("CONNECTION_CLOSED"));
    },
  } as unknown as EventPublisher;
  return { events, attempts: () => attempts };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("a stopped LivePolicySet", () => {
  it("retries no announcement, an operator's record included, and its writer hears temporarily_unavailable", async () => {
    vi.useFakeTimers();
    const { events, attempts } = closedPublisher();
    const live = new LivePolicySet(policyBucket([put]).cache, events, logger, { generation: "g", retryMs: 5 });
    const waiting = live.recorded(1n, new Date(Date.now() + 600_000)).then(
      () => "recorded",
      (err: unknown) => (err instanceof OAuthError ? err.code : String(err)),
    );
    // The record is retried while the set runs (backing off to 5 s).
    await vi.advanceTimersByTimeAsync(30_000);
    expect(attempts()).toBeGreaterThan(3);

    live.stop();
    await vi.advanceTimersByTimeAsync(30_000);
    const atStop = attempts();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(attempts(), "publish attempts after stop()").toBe(atStop);
    expect(await waiting).toBe("temporarily_unavailable");
  });
});
