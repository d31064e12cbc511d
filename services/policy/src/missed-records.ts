/**
 * The records a starting replica announces again: every operator's change
 * the policies bucket's history still holds. Every replica announces every
 * change and retries a failed record, but only in memory; were every replica
 * that saw a change to die before one of them stored its record, a replica
 * started afterwards watches only the latest version of each key, and the
 * author of an intermediate change would never reach the audit trail.
 *
 * Which records are stored is not asked of the events stream: records are
 * retried on independent backoffs, so they are stored out of order (a newer
 * change's record may be stored while an older one's is still failing), and
 * reading the stream would let the policy service read every event in it
 * (tokens issued, reads of the trail). Each version is announced again under
 * the event id and time the live path gives it (publishUntilStored), and a
 * record already stored is a duplicate everywhere: CloudEvents consumers
 * take an identical `source` + `id` as one event, JetStream drops a message
 * whose Nats-Msg-Id it stored within its duplicate window, and the audit
 * projection skips an event id it holds (AuditStore.append, event_id UNIQUE,
 * services/audit/src/audit-store.ts). The cost is bounded: the bucket keeps
 * 10 versions per key. A change whose versions it no longer keeps cannot be
 * recovered this way.
 */
import type { KV, KvEntry } from "@nats-io/kv";
import type { EventPublisher } from "@sts/nats";
import type { Logger } from "@sts/telemetry";
import { parseStoredPolicy } from "./policy-store.js";
import type { StoredPolicy } from "./policy-store.js";
import { operatorChanges, publishUntilStored } from "./policy-updated.js";
import type { BucketChange } from "./policy-updated.js";

/** A version as the replay needs it, without its text; undefined when it does not parse, as the watch leaves it out. */
function withoutText(e: KvEntry): BucketChange | undefined {
  const revision = BigInt(e.revision);
  if (e.operation !== "PUT") return { key: e.key, value: undefined, revision, created: e.created };
  let value: StoredPolicy | undefined;
  try {
    value = parseStoredPolicy(e.json());
  } catch {
    value = undefined;
  }
  return value && { key: e.key, value: { ...value, text: "" }, revision, created: e.created };
}

/** Every version the bucket keeps, oldest first, read in one pass that keeps no policy text. */
async function bucketHistory(kv: KV): Promise<BucketChange[]> {
  const changes: BucketChange[] = [];
  for await (const e of await kv.history()) {
    const change = withoutText(e);
    if (change) changes.push(change);
  }
  return changes;
}

/**
 * Announces again, one at a time and oldest first, the record of every operator's change the bucket's history
 * holds, each with the set in force just after it; resolves with how many were stored once all were, or when
 * `stopped` says so.
 */
export async function announceHistory(
  kv: KV,
  events: EventPublisher,
  logger: Logger,
  options: { generation: string; retryMs?: number; stopped?: () => boolean },
): Promise<number> {
  let history: BucketChange[];
  try {
    history = await bucketHistory(kv);
  } catch (err) {
    logger.error({ err }, "cannot read the policies bucket's history; records lost by earlier replicas stay missing until the next start");
    return 0;
  }
  const retry = { generation: options.generation, retryMs: options.retryMs ?? 250, logger, giveUp: options.stopped ?? (() => false) };
  let stored = 0;
  for (const announcement of operatorChanges(new Map(), history)) {
    if (!(await publishUntilStored(events, announcement, retry))) break;
    stored++;
  }
  return stored;
}
