/**
 * The records a starting replica announces first: operators' changes that
 * the policies bucket's history holds and the events stream may not. Every
 * replica announces every change and retries a failed record, but only in
 * memory; were every replica that saw a change to die before one of them
 * stored its record, a replica started afterwards watches only the latest
 * version of each key, and the author of an intermediate change would never
 * reach the audit trail. So each version in the history that names an author
 * and is newer than the newest policy.updated event stored is announced
 * again, under the event id the live path gives it: a record already stored
 * is dropped as a duplicate (JetStream's duplicate window, the audit
 * projection's unique event ids), so a replay is harmless. A change whose
 * versions the bucket no longer keeps (history: 10 per key) cannot be
 * recovered this way.
 */
import type { KV } from "@nats-io/kv";
import { EVENTS_STREAM, EVENT_TYPES, eventSubject } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import type { Logger } from "@sts/telemetry";
import { parseStoredPolicy } from "./policy-store.js";
import type { StoredPolicy } from "./policy-store.js";
import { operatorChanges } from "./policy-updated.js";
import type { BucketChange, PolicyUpdated } from "./policy-updated.js";

/** The revision named by the newest policy.updated event stored; 0 when there is none or it cannot be read. */
async function newestRecorded(handle: NatsHandle, logger: Logger): Promise<bigint> {
  try {
    const m = await handle.jsm.streams.getMessage(EVENTS_STREAM.name, { last_by_subj: eventSubject(EVENT_TYPES.POLICY_UPDATED) });
    if (!m) return 0n;
    const revision = m.json<{ data?: { revision?: unknown } }>().data?.revision;
    if (typeof revision === "string" && /^\d{1,20}$/.test(revision)) return BigInt(revision);
    logger.warn({ seq: m.seq }, "the newest policy.updated event names no revision; announcing every operator's change the bucket keeps");
  } catch (err) {
    // Without knowing what is stored, announce all: a duplicate is dropped, a missing record would stay missing.
    logger.warn({ err }, "cannot read the newest policy.updated event; announcing every operator's change the bucket keeps");
  }
  return 0n;
}

/** Every version the bucket keeps, oldest first; a value that does not parse is left out, as the watch leaves it out. */
async function bucketHistory(kv: KV): Promise<BucketChange[]> {
  const changes: BucketChange[] = [];
  for await (const e of await kv.history()) {
    const revision = BigInt(e.revision);
    if (e.operation !== "PUT") {
      changes.push({ key: e.key, value: undefined, revision });
      continue;
    }
    let value: StoredPolicy | undefined;
    try {
      value = parseStoredPolicy(e.json());
    } catch {
      value = undefined;
    }
    if (value) changes.push({ key: e.key, value, revision });
  }
  return changes;
}

/**
 * The policy.updated records of the operators' changes in the bucket's history newer than the newest record stored.
 * Read before this replica announces anything, or its own announcement would be the newest and hide them.
 */
export async function missedRecords(handle: NatsHandle, kv: KV, logger: Logger): Promise<PolicyUpdated[]> {
  let history: BucketChange[];
  try {
    history = await bucketHistory(kv);
  } catch (err) {
    logger.error({ err }, "cannot read the policies bucket's history; records lost by earlier replicas stay missing until the next start");
    return [];
  }
  // A bucket no operator has changed (a new stack, whose events stream may not exist yet) has nothing to recover.
  if (!history.some((c) => c.value?.author)) return [];
  const newest = await newestRecorded(handle, logger);
  return operatorChanges(new Map(), history, (revision) => revision > newest);
}
