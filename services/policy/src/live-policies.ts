/**
 * The engine in force on this replica: rebuilt from the watched policies
 * bucket whenever it changes, then announced with policy.updated (event id
 * derived from the revision, so the N replicas' announcements of one change
 * are stored once). A failed announcement is retried until it is out or a
 * newer revision's takes over: exchangers drop their cached decisions only
 * on hearing it, so a lost one would leave a tightened policy unenforced for
 * up to their cache TTL.
 */
import { EVENT_TYPES } from "@sts/nats";
import type { EventPublisher, KvCache } from "@sts/nats";
import type { Logger } from "@sts/telemetry";
import { PolicyEngine } from "./cedar-engine.js";
import type { StoredPolicy } from "./policy-store.js";
import type { LivePolicies } from "./service.js";

/** Keeps an engine in step with the KV bucket. */
export class LivePolicySet implements LivePolicies {
  #engine: PolicyEngine;
  #revision = 0n;
  #pending: NodeJS.Immediate | undefined;
  readonly #waiters: Array<{ revision: bigint; resolve: () => void }> = [];
  #announcement: Promise<unknown> = Promise.resolve();
  /** Delay before the first retry of a failed announcement; it doubles up to 5 s. */
  readonly #retryMs: number;

  constructor(
    private readonly cache: KvCache<StoredPolicy>,
    private readonly events: EventPublisher | undefined,
    private readonly logger: Logger,
    options: { retryMs?: number } = {},
  ) {
    this.#retryMs = options.retryMs ?? 250;
    this.#engine = new PolicyEngine([]);
    this.#rebuild();
    cache.onChange(() => this.#schedule());
  }

  #schedule(): void {
    // A burst of changes (seeding, a watch replay) gives one rebuild.
    this.#pending ??= setImmediate(() => {
      this.#pending = undefined;
      this.#rebuild();
    });
  }

  #rebuild(): void {
    const policies = [...this.cache.values()];
    const invalid = policies.filter((p) => !PolicyEngine.validatePolicy(p.text, { id: p.id }).ok);
    if (invalid.length > 0) {
      // Leaving out a stored policy that no longer validates could drop a forbid and widen
      // access: keep the engine in force (an empty one denies everything) and say why.
      this.logger.error({ policy_ids: invalid.map((p) => p.id) }, "stored policies do not validate; keeping the policy set in force");
      return;
    }
    const valid = policies;
    this.#engine = new PolicyEngine(valid.map((p) => ({ id: p.id, text: p.text })));
    const revision = BigInt(this.cache.revision);
    const changed = revision !== this.#revision;
    this.#revision = revision;
    for (const w of this.#waiters.splice(0)) {
      if (w.revision <= revision) w.resolve();
      else this.#waiters.push(w);
    }
    if (changed && this.events) {
      this.logger.info({ revision: revision.toString(), policies: valid.length }, "policies reloaded");
      this.#announcement = this.#announce(this.events, revision, valid.map((p) => p.id).sort());
    }
  }

  /** Publishes policy.updated; resolves after the first attempt (a writer waits a bounded time) while failures are retried behind it. */
  #announce(events: EventPublisher, revision: bigint, policyIds: string[]): Promise<void> {
    const attempt = (): Promise<boolean> =>
      events.publish(EVENT_TYPES.POLICY_UPDATED, { revision: revision.toString(), policy_ids: policyIds }, { id: `policy.updated.${revision}` }).then(
        () => true,
        (err: unknown) => {
          this.logger.warn({ err, revision: revision.toString() }, "policy.updated not published; retrying");
          return false;
        },
      );
    const first = attempt();
    void first.then(async (published) => {
      let delay = this.#retryMs;
      // A newer revision's announcement drops the same caches: this one may stop then.
      while (!published && this.#revision === revision) {
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, 5000);
        if (this.#revision !== revision) return;
        published = await attempt();
      }
    });
    return first.then(() => undefined);
  }

  /** Resolves once this replica runs a revision at least `revision` (bounded wait). */
  async reached(revision: bigint, timeoutMs = 5000): Promise<void> {
    if (this.#revision < revision) {
      await Promise.race([new Promise<void>((resolve) => this.#waiters.push({ revision, resolve })), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    }
    // Exchangers drop cached decisions on policy.updated: answer the writer only once it is out.
    await this.#announcement;
  }

  async settled(condition: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await this.#announcement;
  }

  engine(): PolicyEngine {
    return this.#engine;
  }

  revision(): bigint {
    return this.#revision;
  }

  get(id: string): (StoredPolicy & { revision: bigint }) | undefined {
    const e = this.cache.entries().find(([, v]) => v.value.id === id)?.[1];
    return e ? { ...e.value, revision: BigInt(e.revision) } : undefined;
  }

  list(): Array<StoredPolicy & { revision: bigint }> {
    return this.cache
      .entries()
      .map(([, e]) => ({ ...e.value, revision: BigInt(e.revision) }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }
}
