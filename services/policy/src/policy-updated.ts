/**
 * The `policy.updated` event: the policy set at one KV revision is in force
 * (exchangers drop their cached decisions on hearing it), and who made the
 * change that produced that revision. The projection stores its `sub`,
 * `client_id` and `jti` like any event's, so `stsctl audit query --type
 * policy.updated` lists who changed which policy.
 *
 * `data` of `policy.updated`:
 * - `revision`: the KV revision of the set now in force;
 * - `policy_ids`: the ids of the policies in that set, sorted;
 * - `policy_id`, `operation` (`put` or `delete`): the change made at that revision, when the bucket knows it (a
 *   seed from the config file is a `put`; a key removed outside the service leaves none);
 * - `change`: `reset` when that change was an operator handing the policy back to the config file (Reset): a `put`
 *   of the config file's version, which follows the file again from then on; absent for any other change;
 * - `text_sha256`: for a `put`, the SHA-256 (base64url) of the text written: the bucket keeps only the last few
 *   versions, and the trail must still tell which text a change put in force (a text kept elsewhere can be checked
 *   against it);
 * - `credential` (`access_token` or `break_glass`), `sub`, `client_id`, `jti`: the operator who made it through Put or
 *   Delete, as the stored version names it; absent for a change that came from the config file. Never a token.
 */
import type { KV } from "@nats-io/kv";
import { EVENT_TYPES } from "@sts/nats";
import type { EventPublisher } from "@sts/nats";
import type { Credential } from "@sts/mesh";
import type { Logger } from "@sts/telemetry";
import { inForce, seedDigest } from "./policy-store.js";
import type { StoredPolicy } from "./policy-store.js";

/** CloudEvents `data` of `policy.updated`. */
export interface PolicyUpdated {
  revision: string;
  policy_ids: string[];
  policy_id?: string;
  operation?: "put" | "delete";
  change?: "reset";
  text_sha256?: string;
  credential?: Credential;
  sub?: string;
  client_id?: string;
  jti?: string;
}

/** The event data for the set in force at `revision`, made by `change` (the version written at that revision), if known. */
export function policyUpdatedData(revision: bigint, policyIds: Iterable<string>, change: StoredPolicy | undefined): PolicyUpdated {
  const data: PolicyUpdated = { revision: revision.toString(), policy_ids: [...policyIds].sort() };
  if (!change) return data;
  data.policy_id = change.id;
  data.operation = change.deleted ? "delete" : "put";
  if (change.change === "reset") data.change = "reset";
  if (!change.deleted) data.text_sha256 = seedDigest(change.text);
  return change.author ? { ...data, ...change.author } : data;
}

/** One version of the policies bucket, as a watch or the bucket's history delivers it (no value: the key was removed). */
export interface BucketChange {
  key: string;
  value: StoredPolicy | undefined;
  revision: bigint;
  /** When JetStream stored this version: when the change was made. */
  created: Date;
}

/** A policy.updated to publish: its data and when the change it names was made, if known. */
export interface Announcement {
  data: PolicyUpdated;
  made: Date | undefined;
}

/**
 * Replays `changes` (oldest first) over `before`, the ids in force by KV key: the announcement of each change that
 * names an operator and whose revision `wanted` takes, with the set in force just after that change.
 */
export function* operatorChanges(
  before: ReadonlyMap<string, string>,
  changes: Iterable<BucketChange>,
  wanted: (revision: bigint) => boolean = () => true,
): Generator<Announcement> {
  const byKey = new Map(before);
  for (const c of changes) {
    if (c.value && inForce(c.value)) byKey.set(c.key, c.value.id);
    else byKey.delete(c.key);
    if (c.value?.author && wanted(c.revision)) yield { data: policyUpdatedData(c.revision, byKey.values(), c.value), made: c.created };
  }
}

/**
 * Which making of the policies bucket its revisions count in: the creation time of the stream behind it, as digits.
 * Revisions start again at 1 in a bucket made again (after a loss of NATS data), and the audit projection keeps
 * every event id it has stored: ids from the revision alone would make the new bucket's records read as
 * duplicates of the old one's, and drop them from the audit trail. The same on every replica and every start.
 */
export async function bucketGeneration(kv: KV): Promise<string> {
  return (await readBucketGeneration(kv)).id;
}

/** The making of the policies bucket that stands now, read from its stream. */
export interface BucketGeneration {
  /** Its {@link bucketGeneration}. */
  id: string;
  /** When its stream was created (ms since the epoch): every version it holds was written since. */
  createdMs: number;
  /** Its last revision when read: a copy of it cannot run a later one. */
  lastRevision: bigint;
}

/** Reads the generation of the policies bucket as it stands now (one STREAM.INFO). */
export async function readBucketGeneration(kv: KV): Promise<BucketGeneration> {
  const { created, state } = (await kv.status()).streamInfo;
  return { id: created.replace(/[^0-9]/g, ""), createdMs: Date.parse(created), lastRevision: BigInt(state.last_seq) };
}

/** How {@link publishUntilStored} retries. */
export interface RetryOptions {
  /** The bucket's {@link bucketGeneration}, part of every event id. */
  generation: string;
  /** Delay before the first retry; it doubles up to 5 s. */
  retryMs: number;
  logger: Logger;
  /** Checked after each failed attempt: true gives up (a newer announcement took over, the process stops). */
  giveUp: () => boolean;
}

/**
 * Publishes policy.updated, retrying a failed publish with the same event until it is stored (true) or `giveUp`
 * (false). The live path and the replay of the bucket's history both publish through here, so the record of one
 * change is the same event wherever it comes from: its id comes from the bucket's generation and the revision, so
 * the N replicas' announcements and every replay of it are duplicates of one record; its `time` is when the change was made (the
 * KV entry's `created`, the same on every replica), not when this attempt was, so an auditor reads when the
 * policies changed even from a record stored long after, by a replica that started later.
 */
export async function publishUntilStored(events: EventPublisher, { data, made }: Announcement, o: RetryOptions): Promise<boolean> {
  const options = { id: `policy.updated.${o.generation}.${data.revision}`, ...(made && { time: made }) };
  let delay = o.retryMs;
  for (;;) {
    try {
      await events.publish(EVENT_TYPES.POLICY_UPDATED, data, options);
      return true;
    } catch (err) {
      o.logger.warn({ err, revision: data.revision }, "policy.updated not published; retrying");
    }
    await new Promise((r) => setTimeout(r, delay).unref());
    delay = Math.min(delay * 2, 5000);
    if (o.giveUp()) return false;
  }
}
