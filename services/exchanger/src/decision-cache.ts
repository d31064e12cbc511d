/**
 * Policy decisions, cached. The key is the whole decision input, so a cached
 * decision is reused only for the very same question; the cache is dropped
 * whole when any replica of the policy service announces policy.updated.
 * Each decision keeps the policy revision it was made at, and every answer
 * raises the lowest revision the cache serves from: policy.updated is core
 * NATS (at most once), and a message lost without a disconnect (a route flap
 * in a NATS cluster) would otherwise leave a tightened policy unenforced for
 * the whole TTL while answers from the newer set arrive for other questions.
 * When the policy service cannot answer and nothing cached applies, the
 * exchange fails closed with temporarily_unavailable, never allows.
 *
 * A revision counts in one generation of the policies bucket: one made anew
 * (an operator's reset, NATS data lost) numbers its revisions from 1 again.
 * Versions compare by generation first, so that an answer from the new
 * bucket is not refused as older than the old bucket's last revision (every
 * exchange failing closed until a restart), and one from the old bucket is
 * refused once the new one has been seen.
 */
import { OAuthError, unavailable } from "@sts/errors";
import { endedByParent, servingCall } from "@sts/grpc";
import type { DecideRequest, Decision__Output } from "@sts/proto";
import { cacheLookups } from "@sts/telemetry";
import { ownIdentityRefused } from "./upstream-refusals.js";

/** Asks the policy service; rejects with an OAuthError. */
export type DecideFn = (request: DecideRequest) => Promise<Decision__Output>;

const MAX_ENTRIES = 50_000;
/**
 * Most memory the cached decisions may take (keys and answers, approximately), whatever their number. A key holds the
 * whole question, the subject token's scopes and audiences included, so at max_token_bytes each one can take tens of
 * kilobytes: bounded by count alone, a client asking about made-up audiences (each denial is cached too) could fill
 * gigabytes within one TTL.
 */
export const DECISION_CACHE_MAX_BYTES = 64 * 1024 * 1024;
/** Asks again this many times, backing off from STALE_RETRY_MS, when a replica answers from an older revision. */
const STALE_RETRIES = 3;
const STALE_RETRY_MS = 20;

/** A version of the policy set: a KV revision, in the generation of the bucket it counts in ("" when not named). */
export interface PolicyVersion {
  generation: string;
  revision: bigint;
}

/** A cached decision and the policy version it was made at. */
interface Entry {
  decision: Decision__Output;
  version: PolicyVersion;
  expires: number;
  /** What it takes in memory, approximately: its key and its answer's strings. */
  bytes: number;
}

/** Characters an answer holds, plus a fixed overhead for the objects around them. */
function sizeOf(key: string, d: Decision__Output): number {
  let chars = key.length + d.reason.length + d.policy_revision.length + (d.policy_generation ?? "").length;
  for (const list of [d.allowed_scopes, d.default_scopes, d.policy_ids, d.errors]) for (const s of list) chars += s.length + 16;
  return chars + 256;
}

/**
 * Orders two generations: digits of their bucket's creation time, UTC year to second then the fraction of a second,
 * its trailing zeros left out; padded alike, the later time is the larger string.
 */
function compareGenerations(a: string, b: string): number {
  const width = Math.max(a.length, b.length);
  const [x, y] = [a.padEnd(width, "0"), b.padEnd(width, "0")];
  return x === y ? 0 : x < y ? -1 : 1;
}

/**
 * Orders two policy versions (negative: `a` is older): a later generation is newer whatever its revision; within one,
 * or when either names none (a policy service from before generations), the revision decides.
 */
export function comparePolicyVersions(a: PolicyVersion, b: PolicyVersion): number {
  const generation = a.generation && b.generation ? compareGenerations(a.generation, b.generation) : 0;
  if (generation !== 0) return generation;
  return a.revision === b.revision ? 0 : a.revision < b.revision ? -1 : 1;
}

/** The policy version an answer was made at (revision 0 when the policy service names none). */
function versionOf(decision: Decision__Output): PolicyVersion {
  return { generation: decision.policy_generation ?? "", revision: BigInt(decision.policy_revision || "0") };
}

/** A policy.updated event id: `policy.updated.<generation>.<revision>` (services/policy/src/policy-updated.ts). */
const ANNOUNCEMENT_ID = /^policy\.updated\.(\d+)\.\d+$/;

/** The policy version a policy.updated event announces (its data's revision, in the generation its id names), if readable. */
export function announcedVersion(event: { id?: unknown; data?: { revision?: unknown } }): PolicyVersion | undefined {
  const revision = event.data?.revision;
  if (typeof revision !== "string" || !/^\d+$/.test(revision)) return undefined;
  const generation = typeof event.id === "string" ? (ANNOUNCEMENT_ID.exec(event.id)?.[1] ?? "") : "";
  return { generation, revision: BigInt(revision) };
}

/** Describes a version for an error description. */
const versionText = (v: PolicyVersion): string => (v.generation ? `revision ${v.revision} of generation ${v.generation}` : `revision ${v.revision}`);

/** A TTL cache of decisions in front of the policy service. */
export class DecisionCache {
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<Decision__Output>>();
  /** Sum of the entries' sizes. */
  #bytes = 0;
  #generation = 0;
  /** Oldest policy version a decision may come from (raised by policy.updated and by every answer). */
  #floor: PolicyVersion = { generation: "", revision: 0n };
  readonly #lookups = cacheLookups("@sts/exchanger", "sts.policy.decision_cache.lookups", "Policy decisions");

  constructor(
    private readonly decideRemote: DecideFn,
    private readonly ttlMs: number,
    private readonly nowMs: () => number = Date.now,
    private readonly maxBytes: number = DECISION_CACHE_MAX_BYTES,
  ) {}

  /** A decision for the request, from cache or from the policy service. */
  async decide(request: DecideRequest): Promise<Decision__Output> {
    const key = JSON.stringify(request);
    const hit = this.#entries.get(key);
    if (hit && hit.expires > this.nowMs() && comparePolicyVersions(hit.version, this.#floor) >= 0) {
      this.#lookups("hit");
      return hit.decision;
    }
    const pending = this.#inflight.get(key);
    this.#lookups(pending ? "joined" : "miss");
    if (pending) {
      // The question in flight is bounded by the caller that asked it first (its deadline travels down to Decide): one
      // who joined it and is still waiting when that caller's going ended it asks again, rather than fail for another.
      return pending.catch((err: unknown) => {
        if (endedByParent(err) && !servingCall()?.cancelled) return this.decide(request);
        throw err;
      });
    }
    const generation = this.#generation;
    const asked: Promise<Decision__Output> = this.#askCurrent(request)
      .then((decision) => {
        const version = versionOf(decision);
        this.#raise(version);
        // A decision computed before an invalidation must not outlive it, nor one another answer has since overtaken.
        if (generation === this.#generation && comparePolicyVersions(version, this.#floor) >= 0) this.#store(key, decision, version);
        return decision;
      })
      .catch((err: unknown) => {
        // Decide refusing the exchanger itself (a pinned SPIFFE ID not matched) is not the caller's fault.
        const refused = ownIdentityRefused(err, "policy service");
        if (refused) throw refused;
        if (err instanceof OAuthError && err.code !== "temporarily_unavailable" && err.code !== "server_error") throw err;
        throw unavailable("policy service unavailable", err);
      })
      .finally(() => {
        // After an invalidation this key may already belong to a newer question in flight.
        if (this.#inflight.get(key) === asked) this.#inflight.delete(key);
      });
    this.#inflight.set(key, asked);
    return asked;
  }

  /**
   * Asks until the answer comes from at least the newest announced revision: a replica that has not reloaded yet
   * would still allow what a tightened policy denies. Replicas reload within milliseconds of the announcement; one
   * that stays behind is treated as unavailable (fail closed).
   */
  async #askCurrent(request: DecideRequest): Promise<Decision__Output> {
    for (let attempt = 0; ; attempt++) {
      const decision = await this.decideRemote(request);
      if (comparePolicyVersions(versionOf(decision), this.#floor) >= 0) return decision;
      if (attempt === STALE_RETRIES) throw unavailable(`policy service answered from ${versionText(versionOf(decision))}, behind ${versionText(this.#floor)}`);
      await new Promise((r) => setTimeout(r, STALE_RETRY_MS * 2 ** attempt));
    }
  }

  /** Caches a decision, dropping the oldest entries first while the count or the memory bound would be passed. */
  #store(key: string, decision: Decision__Output, version: PolicyVersion): void {
    // A TTL of 0 reuses nothing: an entry stored anyway would never be served, yet hold memory up to the bound.
    if (this.ttlMs <= 0) return;
    const bytes = sizeOf(key, decision);
    if (bytes > this.maxBytes) return;
    this.#delete(key);
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size < MAX_ENTRIES && this.#bytes + bytes <= this.maxBytes) break;
      this.#delete(oldest);
    }
    this.#entries.set(key, { decision, version, expires: this.nowMs() + this.ttlMs, bytes });
    this.#bytes += bytes;
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }

  /**
   * An answer made at `version` proves that version is in force, whether or not its policy.updated reached us:
   * decisions made before it may allow what it forbids, so none of them is served again. Questions in flight need no
   * dropping here: each answer is held to the floor when it arrives (#askCurrent), and is asked again if behind.
   */
  #raise(version: PolicyVersion): void {
    if (comparePolicyVersions(version, this.#floor) <= 0) return;
    // An answer naming no generation keeps the one known: its revision counts in it.
    this.#floor = { generation: version.generation || this.#floor.generation, revision: version.revision };
    for (const [key, entry] of this.#entries) if (comparePolicyVersions(entry.version, this.#floor) < 0) this.#delete(key);
  }

  /**
   * Drops every cached decision and question in flight (on policy.updated), remembering the newest version announced
   * (a bare revision: one in the generation known).
   */
  invalidate(announced?: PolicyVersion | bigint): void {
    if (announced !== undefined) this.#raise(typeof announced === "bigint" ? { generation: "", revision: announced } : announced);
    this.#generation++;
    this.#entries.clear();
    this.#bytes = 0;
    // A question asked before the change must not answer one asked after it.
    this.#inflight.clear();
  }

  /** Number of cached decisions. */
  get size(): number {
    return this.#entries.size;
  }
}
