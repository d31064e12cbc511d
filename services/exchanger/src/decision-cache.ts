/**
 * Policy decisions, cached. The key is the whole decision input, so a cached
 * decision is reused only for the very same question; the cache is dropped
 * whole when any replica of the policy service announces policy.updated.
 * When the policy service cannot answer and nothing cached applies, the
 * exchange fails closed with temporarily_unavailable, never allows.
 */
import { OAuthError, unavailable } from "@sts/errors";
import type { DecideRequest, Decision__Output } from "@sts/proto";
import { cacheLookups } from "@sts/telemetry";

/** Asks the policy service; rejects with an OAuthError. */
export type DecideFn = (request: DecideRequest) => Promise<Decision__Output>;

const MAX_ENTRIES = 50_000;

/** A TTL cache of decisions in front of the policy service. */
export class DecisionCache {
  readonly #entries = new Map<string, { decision: Decision__Output; expires: number }>();
  readonly #inflight = new Map<string, Promise<Decision__Output>>();
  #generation = 0;
  /** Lowest policy revision a cached decision may come from (raised by policy.updated). */
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
    if (hit && hit.expires > this.nowMs()) {
      this.#lookups("hit");
      return hit.decision;
    }
    let pending = this.#inflight.get(key);
    this.#lookups(pending ? "joined" : "miss");
    if (!pending) {
      const generation = this.#generation;
      pending = this.decideRemote(request)
        .then((decision) => {
          // A decision computed before an invalidation must not outlive it.
          // A replica that has not reloaded yet may answer from an older revision: use, don't keep.
          if (generation === this.#generation && BigInt(decision.policy_revision || "0") >= this.#minRevision) this.#store(key, decision);
          return decision;
        })
        .catch((err: unknown) => {
          if (err instanceof OAuthError && err.code !== "temporarily_unavailable" && err.code !== "server_error") throw err;
          throw unavailable("policy service unavailable", err);
        })
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  #store(key: string, decision: Decision__Output): void {
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, { decision, expires: this.nowMs() + this.ttlMs });
  }

  /** Drops every cached decision (on policy.updated), remembering the newest revision announced. */
  invalidate(revision?: bigint): void {
    if (revision !== undefined && revision > this.#minRevision) this.#minRevision = revision;
    this.#generation++;
    this.#entries.clear();
  }

  /** Number of cached decisions. */
  get size(): number {
    return this.#entries.size;
  }
}
