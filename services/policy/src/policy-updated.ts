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
 * - `credential` (`access_token` or `break_glass`), `sub`, `client_id`, `jti`: the operator who made it through Put or
 *   Delete, as the stored version names it; absent for a change that came from the config file. Never a token.
 */
import type { Credential } from "@sts/mesh";
import { inForce } from "./policy-store.js";
import type { StoredPolicy } from "./policy-store.js";

/** CloudEvents `data` of `policy.updated`. */
export interface PolicyUpdated {
  revision: string;
  policy_ids: string[];
  policy_id?: string;
  operation?: "put" | "delete";
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
  return change.author ? { ...data, ...change.author } : data;
}

/** One version of the policies bucket, as a watch or the bucket's history delivers it (no value: the key was removed). */
export interface BucketChange {
  key: string;
  value: StoredPolicy | undefined;
  revision: bigint;
}

/**
 * Replays `changes` (oldest first) over `before`, the ids in force by KV key: the event data of each change that names
 * an operator and whose revision `wanted` takes, with the set in force just after that change.
 */
export function operatorChanges(before: ReadonlyMap<string, string>, changes: readonly BucketChange[], wanted: (revision: bigint) => boolean): PolicyUpdated[] {
  const byKey = new Map(before);
  const records: PolicyUpdated[] = [];
  for (const c of changes) {
    if (c.value && inForce(c.value)) byKey.set(c.key, c.value.id);
    else byKey.delete(c.key);
    if (c.value?.author && wanted(c.revision)) records.push(policyUpdatedData(c.revision, byKey.values(), c.value));
  }
  return records;
}
