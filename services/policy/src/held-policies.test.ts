/**
 * A bucket whose policies do not make a policy set (a stored policy that no longer validates, written before an
 * upgrade tightened the rules or around the service) leaves a replica with the set it had. That set is behind the
 * bucket: an operator's forbid stored through Put since is in force nowhere. README "Policies": a replica whose copy
 * is behind the bucket for longer than policy.max_staleness answers temporarily_unavailable and reports NOT_SERVING,
 * so such a forbid is never bypassed for longer than the bound. Real nats-server and KvCache, the revocation readers'
 * StalenessGuard on a clock the test moves.
 */
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KV } from "@nats-io/kv";
import { OAuthError } from "@sts/errors";
import { KvCache, connectNats, encodeKey, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { StalenessGuard } from "@sts/revocation";
import { createLogger } from "@sts/telemetry";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import type { DecideInput } from "./cedar-engine.js";
import { LivePolicySet } from "./live-policies.js";
import { parseStoredPolicy } from "./policy-store.js";
import type { StoredPolicy } from "./policy-store.js";

const MAX_STALENESS_MS = 30_000;
// Long probe periods: the copy itself stays within its allowance whatever the test clock does.
const PROBE_MS = 600_000;

const stored = (id: string, text: string): StoredPolicy => ({ id, text, description: "", source: "api", updated_at: 0 });
const permit = stored("a-to-b", 'permit (principal == Client::"A", action == Action::"exchange", resource == Audience::"B");');
const forbid = stored("freeze-a", 'forbid (principal == Client::"A", action, resource);');
// Valid when it was stored; refused now (it names an attribute the schema does not have).
const outdated = stored("legacy", "permit (principal, action, resource) when { context.legacy_flag };");

const aToB: DecideInput = {
  clientId: "A",
  audience: "B",
  requestedScopes: [],
  subject: { sub: "u", clientId: "A", iss: "https://sts.test", scopes: [], audience: ["A"] },
  depth: 1,
  actors: [],
  callerInAudience: true,
};

let server: NatsServerHandle;
let nats: NatsHandle;
const stops: Array<() => void> = [];

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "held-policies-test" });
}, 30_000);

afterAll(async () => {
  for (const stop of stops) stop();
  await nats?.close();
  await server?.stop();
});

/** How Decide would end on this replica: its allow, or the OAuth error it is refused with. */
function decideOn(live: LivePolicySet): string {
  try {
    return live.inForce().engine.decide(aToB).allow ? "allow" : "deny";
  } catch (err) {
    return err instanceof OAuthError ? err.code : String(err);
  }
}

describe("a replica whose bucket does not make a policy set", () => {
  it("decides from the set it kept for policy.max_staleness at most, then refuses (temporarily_unavailable, not ready) until the bucket makes a set", async () => {
    const kv: KV = await openBucket(nats, "held_policies", { owner: true, history: 10 });
    await kv.put(encodeKey(permit.id), JSON.stringify(permit));
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split("\n").filter(Boolean));
        done();
      },
    });
    const logger = createLogger("held-policies-test", { level: "error", destination });
    const cache = new KvCache(kv, { parse: parseStoredPolicy, invalid: "keep-previous", logger, probeIntervalMs: PROBE_MS });
    stops.push(() => cache.stop());
    await cache.ready();
    let now = Date.now();
    const connection = { isConnected: () => true, onStatusChange: () => undefined };
    const live = new LivePolicySet(cache, undefined, logger, {
      generation: "g",
      staleness: new StalenessGuard(connection, MAX_STALENESS_MS, () => now),
      probeIntervalMs: PROBE_MS,
      now: () => now,
    });
    expect([decideOn(live), live.fresh()]).toEqual(["allow", true]);

    // A record that no longer validates, then an operator's forbid of the very exchange: both stored, neither in force.
    await kv.put(encodeKey(outdated.id), JSON.stringify(outdated));
    await kv.put(encodeKey(forbid.id), JSON.stringify(forbid));
    await waitFor(() => cache.revision === 3, { timeoutMs: 10_000, message: "the copy did not take the writes" });
    await waitFor(() => lines.filter((l) => l.includes("do not validate")).length > 0, { timeoutMs: 10_000, message: "the outdated record was not refused" });
    expect(live.revision()).toBe(1n);

    now += MAX_STALENESS_MS;
    expect([decideOn(live), live.fresh()]).toEqual(["allow", true]);
    now += 1;
    // Past the bound the forbid stored meanwhile may be in force on no replica: no allow from the older set.
    expect([decideOn(live), live.fresh()]).toEqual(["temporarily_unavailable", false]);

    // Once the outdated record is removed the bucket makes a set again: decided from at once, the forbid in force.
    await kv.delete(encodeKey(outdated.id));
    await waitFor(() => live.revision() === 4n, { timeoutMs: 10_000, message: "the set did not follow the bucket once the record was removed" });
    expect([decideOn(live), live.fresh()]).toEqual(["deny", true]);
  }, 30_000);
});
