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
 */
import { OAuthError, unavailable } from "@sts/errors";
import type { DecideRequest, Decision__Output } from "@sts/proto";
import { cacheLookups } from "@sts/telemetry";

/** Asks the policy service; rejects with an OAuthError. */
export type DecideFn = (request: DecideRequest) => Promise<Decision__Output>;

const MAX_ENTRIES = 50_000;
/** Asks again this many times, backing off from STALE_RETRY_MS, when a replica answers from an older revision. */
const STALE_RETRIES = 3;
const STALE_RETRY_MS = 20;

/** A cached decision and the policy revision it was made at. */
interface Entry {
  decision: Decision__Output;
  revision: bigint;
  expires: number;
}

/** The policy revision an answer was made at (0 when the policy service names none). */
function revisionOf(decision: Decision__Output): bigint {
  return BigInt(decision.policy_revision || "0");
}

/** A TTL cache of decisions in front of the policy service. */
export class DecisionCache {
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<Decision__Output>>();
  #generation = 0;
  /** Lowest policy revision a decision may come from (raised by policy.updated and by every answer). */
  #minRevision = 0n;
  readonly #lookups = cacheLookups("@sts/exchanger", "sts.policy.decision_cache.lookups", "Policy decisions");

  constructor(
    private readonly decideRemote: DecideFn,
    private readonly ttlMs: number,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** A decision for the request, from cache or from the policy service. */
  async decide(request: DecideRequest): Promise<Decision__Output> {
    const key = JSON.stringify(request);
    const hit = this.#entries.get(key);
    if (hit && hit.expires > this.nowMs() && hit.revision >= this.#minRevision) {
      this.#lookups("hit");
      return hit.decision;
    }
    let pending = this.#inflight.get(key);
    this.#lookups(pending ? "joined" : "miss");
    if (!pending) {
      const generation = this.#generation;
      const asked: Promise<Decision__Output> = this.#askCurrent(request)
        .then((decision) => {
          const revision = revisionOf(decision);
          this.#raise(revision);
          // A decision computed before an invalidation must not outlive it, nor one another answer has since overtaken.
          if (generation === this.#generation && revision >= this.#minRevision) this.#store(key, decision, revision);
          return decision;
        })
        .catch((err: unknown) => {
          if (err instanceof OAuthError && err.code !== "temporarily_unavailable" && err.code !== "server_error") throw err;
          throw unavailable("policy service unavailable", err);
        })
        .finally(() => {
          // After an invalidation this key may already belong to a newer question in flight.
          if (this.#inflight.get(key) === asked) this.#inflight.delete(key);
        });
      pending = asked;
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  /**
   * Asks until the answer comes from at least the newest announced revision: a replica that has not reloaded yet
   * would still allow what a tightened policy denies. Replicas reload within milliseconds of the announcement; one
   * that stays behind is treated as unavailable (fail closed).
   */
  async #askCurrent(request: DecideRequest): Promise<Decision__Output> {
    for (let attempt = 0; ; attempt++) {
      const decision = await this.decideRemote(request);
      if (revisionOf(decision) >= this.#minRevision) return decision;
      if (attempt === STALE_RETRIES) throw unavailable(`policy service answered from revision ${decision.policy_revision}, behind ${this.#minRevision}`);
      await new Promise((r) => setTimeout(r, STALE_RETRY_MS * 2 ** attempt));
    }
  }

  #store(key: string, decision: Decision__Output, revision: bigint): void {
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, { decision, revision, expires: this.nowMs() + this.ttlMs });
  }

  /**
   * An answer made at `revision` proves that revision is in force, whether or not its policy.updated reached us:
   * decisions made before it may allow what it forbids, so none of them is served again. Questions in flight need no
   * dropping here: each answer is held to the minimum when it arrives (#askCurrent), and is asked again if behind.
   */
  #raise(revision: bigint): void {
    if (revision <= this.#minRevision) return;
    this.#minRevision = revision;
    for (const [key, entry] of this.#entries) if (entry.revision < revision) this.#entries.delete(key);
  }

  /** Drops every cached decision and question in flight (on policy.updated), remembering the newest revision announced. */
  invalidate(revision?: bigint): void {
    if (revision !== undefined) this.#raise(revision);
    this.#generation++;
    this.#entries.clear();
    // A question asked before the change must not answer one asked after it.
    this.#inflight.clear();
  }

  /** Number of cached decisions. */
  get size(): number {
    return this.#entries.size;
  }
}
