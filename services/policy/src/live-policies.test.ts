import { describe, expect, it } from "vitest";
import type { EventPublisher, KvCache } from "@sts/nats";
import { waitFor } from "@sts/testkit";
import { createLogger } from "@sts/telemetry";
import { LivePolicySet } from "./live-policies.js";
import type { StoredPolicy } from "./policy-store.js";

const policy: StoredPolicy = {
  id: "a-to-b",
  text: 'permit (principal == Client::"A", action == Action::"exchange", resource == Audience::"B");',
  description: "",
  source: "api",
  updated_at: 0,
};

/** The part of KvCache the live set reads, with a revision the test moves. */
function bucket(): { cache: KvCache<StoredPolicy>; bump(): void } {
  let revision = 1;
  const listeners: Array<() => void> = [];
  const cache = {
    values: () => [policy],
    entries: () => [["a-to-b", { value: policy, revision }]],
    get revision() {
      return revision;
    },
    onChange: (listener: () => void) => listeners.push(listener),
  } as unknown as KvCache<StoredPolicy>;
  return {
    cache,
    bump() {
      revision++;
      for (const l of listeners) l();
    },
  };
}

/** Records each publish; `fail(id)` says whether that attempt fails. */
function publisher(fail: (id: string) => boolean): { events: EventPublisher; ids: string[] } {
  const ids: string[] = [];
  const events = {
    publish: (_type: string, _data: unknown, options: { id: string }) => {
      ids.push(options.id);
      return fail(options.id) ? Promise.reject(new Error("no responders")) : Promise.resolve({ id: options.id, seq: ids.length, duplicate: false });
    },
  } as unknown as EventPublisher;
  return { events, ids };
}

const logger = createLogger("policy-test", { level: "silent" });

describe("policy.updated announcements", () => {
  it("are retried with the same event id until one is stored, then stop", async () => {
    let failures = 2;
    const { events, ids } = publisher(() => failures-- > 0);
    const live = new LivePolicySet(bucket().cache, events, logger, { retryMs: 5 });
    // A writer waits for the first attempt only, not for NATS to come back.
    await live.reached(1n, 1000);
    await waitFor(() => ids.length === 3, { timeoutMs: 2000, message: "announcement not retried" });
    await new Promise((r) => setTimeout(r, 50));
    expect(ids).toEqual(["policy.updated.1", "policy.updated.1", "policy.updated.1"]);
  });

  it("stop retrying an older revision once a newer one is announced", async () => {
    const kv = bucket();
    const { events, ids } = publisher((id) => id === "policy.updated.1");
    const live = new LivePolicySet(kv.cache, events, logger, { retryMs: 5 });
    await waitFor(() => ids.length >= 2, { timeoutMs: 2000, message: "announcement not retried" });
    kv.bump();
    await waitFor(() => live.revision() === 2n && ids.includes("policy.updated.2"), { timeoutMs: 2000, message: "newer revision not announced" });
    const settled = ids.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(ids.length).toBe(settled);
    expect(ids.filter((id) => id === "policy.updated.2")).toHaveLength(1);
  });
});
