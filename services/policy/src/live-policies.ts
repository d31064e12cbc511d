/**
 * The engine in force on this replica: rebuilt from the watched policies
 * bucket whenever it changes, then announced with policy.updated (event id
 * derived from the revision, so the N replicas' announcements of one change
 * are stored once). An announcement names the change made at its revision
 * and the operator who made it; a burst of changes gives one rebuild, but
 * each operator's change in it still gets its own announcement, so none goes
 * unrecorded. A failed announcement is retried until it is out, or, when it
 * names no operator, until a newer revision's takes over: exchangers drop
 * their cached decisions only on hearing one, so a lost one would leave a
 * tightened policy unenforced for up to their cache TTL, and one naming an
 * operator is the record of who changed the policies.
 */
import { EVENT_TYPES } from "@sts/nats";
import type { EventPublisher, KvCache } from "@sts/nats";
import type { Logger } from "@sts/telemetry";
import { PolicyEngine } from "./cedar-engine.js";
import { inForce } from "./policy-store.js";
import type { StoredPolicy } from "./policy-store.js";
import { policyUpdatedData } from "./policy-updated.js";
import type { PolicyUpdated } from "./policy-updated.js";
import type { LivePolicies } from "./service.js";

/** One change of the bucket as the watch delivered it (no value: the key was removed). */
interface Change {
  key: string;
  value: StoredPolicy | undefined;
  revision: bigint;
}

const sortedIds = (byKey: ReadonlyMap<string, string>): string[] => [...byKey.values()].sort();

/** Keeps an engine in step with the KV bucket. */
export class LivePolicySet implements LivePolicies {
  #engine: PolicyEngine;
  #revision = 0n;
  /** Ids of the policies in force at #revision, by KV key: where a burst's changes are replayed from. */
  #inForce = new Map<string, string>();
  /** Changes seen since the last rebuild, oldest first. */
  readonly #changes: Change[] = [];
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
    cache.onChange((key, value, revision) => {
      this.#changes.push({ key, value, revision: BigInt(revision) });
      this.#schedule();
    });
  }

  #schedule(): void {
    // A burst of changes (seeding, a watch replay) gives one rebuild.
    this.#pending ??= setImmediate(() => {
      this.#pending = undefined;
      this.#rebuild();
    });
  }

  #rebuild(): void {
    const policies = [...this.cache.values()].filter(inForce);
    const invalid = policies.filter((p) => !PolicyEngine.validatePolicy(p.text, { id: p.id }).ok);
    if (invalid.length > 0) {
      // Leaving out a stored policy that no longer validates could drop a forbid and widen
      // access: keep the engine in force (an empty one denies everything) and say why.
      this.logger.error({ policy_ids: invalid.map((p) => p.id) }, "stored policies do not validate; keeping the policy set in force");
      return;
    }
    this.#engine = new PolicyEngine(policies.map((p) => ({ id: p.id, text: p.text })));
    const revision = BigInt(this.cache.revision);
    const previous = this.#revision;
    const before = this.#inForce;
    const changes = this.#changes.splice(0).filter((c) => c.revision > previous);
    this.#inForce = new Map(
      this.cache
        .entries()
        .filter(([, e]) => inForce(e.value))
        .map(([key, e]) => [key, e.value.id]),
    );
    this.#revision = revision;
    for (const w of this.#waiters.splice(0)) {
      if (w.revision <= revision) w.resolve();
      else this.#waiters.push(w);
    }
    if (revision !== previous && this.events) {
      this.logger.info({ revision: revision.toString(), policies: policies.length }, "policies reloaded");
      this.#announcement = this.#announceChanges(this.events, before, changes, revision);
    }
  }

  /**
   * Announces the set now in force, named by the change made at its revision; before it, each operator's change of
   * the burst that this announcement would otherwise hide, with the set in force just after that change.
   */
  #announceChanges(events: EventPublisher, before: ReadonlyMap<string, string>, changes: readonly Change[], revision: bigint): Promise<unknown> {
    const byKey = new Map(before);
    const attempts: Array<Promise<void>> = [];
    for (const c of changes) {
      if (c.value && inForce(c.value)) byKey.set(c.key, c.value.id);
      else byKey.delete(c.key);
      if (c.revision < revision && c.value?.author) attempts.push(this.#announce(events, policyUpdatedData(c.revision, sortedIds(byKey), c.value)));
    }
    const current = this.cache.entries().find(([, e]) => BigInt(e.revision) === revision)?.[1].value;
    attempts.push(this.#announce(events, policyUpdatedData(revision, sortedIds(this.#inForce), current)));
    return Promise.all(attempts);
  }

  /** Publishes policy.updated; resolves after the first attempt (a writer waits a bounded time) while failures are retried behind it. */
  #announce(events: EventPublisher, data: PolicyUpdated): Promise<void> {
    const revision = BigInt(data.revision);
    // The record of an operator's change must get out; an announcement naming nobody only drops caches, as a newer one does.
    const mustGetOut = data.sub !== undefined;
    const attempt = (): Promise<boolean> =>
      events.publish(EVENT_TYPES.POLICY_UPDATED, data, { id: `policy.updated.${revision}` }).then(
        () => true,
        (err: unknown) => {
          this.logger.warn({ err, revision: data.revision }, "policy.updated not published; retrying");
          return false;
        },
      );
    const superseded = (): boolean => !mustGetOut && this.#revision !== revision;
    const first = attempt();
    void first.then(async (published) => {
      let delay = this.#retryMs;
      while (!published && !superseded()) {
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, 5000);
        if (superseded()) return;
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

  engine(): PolicyEngine {
    return this.#engine;
  }

  revision(): bigint {
    return this.#revision;
  }

  get(id: string): (StoredPolicy & { revision: bigint }) | undefined {
    const e = this.cache.entries().find(([, v]) => v.value.id === id && inForce(v.value))?.[1];
    return e ? { ...e.value, revision: BigInt(e.revision) } : undefined;
  }

  list(): Array<StoredPolicy & { revision: bigint }> {
    return this.cache
      .entries()
      .filter(([, e]) => inForce(e.value))
      .map(([, e]) => ({ ...e.value, revision: BigInt(e.revision) }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }
}
