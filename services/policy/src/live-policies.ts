/**
 * The engine in force on this replica: rebuilt from the watched policies
 * bucket whenever it changes, then announced with policy.updated (event id
 * derived from the bucket's generation and the revision, so the N replicas' announcements of one change
 * are stored once). An announcement names the change made at its revision
 * and the operator who made it; a burst of changes gives one rebuild, but
 * each operator's change in it still gets its own announcement, so none goes
 * unrecorded. A failed announcement is retried until it is out, or, when it
 * names no operator, until a newer revision's takes over: exchangers drop
 * their cached decisions only on hearing one, so a lost one would leave a
 * tightened policy unenforced for up to their cache TTL, and one naming an
 * operator is the record of who changed the policies. That retry lives only
 * in this process: the operator who made a change is answered only once its
 * record is stored, and a replica that starts announces again every record
 * the bucket's history holds, which its predecessors may have lost (see
 * missed-records.ts). A bucket that does not make a policy set (a stored
 * policy that no longer validates, a record under a key not its id's,
 * policies the engine cannot be built from) leaves the set in force as it
 * is, on every replica, rather than dropping a record or stopping. That set
 * is then behind the bucket (an operator's forbid Put since is stored but not
 * in force), so it is decided from for policy.max_staleness at most, as a copy
 * cut off from NATS is, and then refused until the bucket makes a set again.
 *
 * A replica decides only from a copy it knows to be current: cut off from
 * NATS (or its copy behind the bucket) for longer than policy.max_staleness,
 * an operator's forbid made through another replica would never reach it, so
 * it refuses (temporarily_unavailable) rather than go on allowing. Each
 * answer names the generation of the bucket its revision counts in: a bucket
 * made anew numbers its revisions from 1 again, and the exchangers, which
 * refuse answers older than the newest they have seen, compare the
 * generation first (services/exchanger/src/decision-cache.ts).
 */
import { unavailable } from "@sts/errors";
import { encodeKey, stalenessNow } from "@sts/nats";
import type { EventPublisher, KvCache } from "@sts/nats";
import type { Logger } from "@sts/telemetry";
import { PolicyEngine } from "./cedar-engine.js";
import { inForce, storedUnder } from "./policy-store.js";
import type { StoredPolicy } from "./policy-store.js";
import { operatorChanges, policyUpdatedData, publishUntilStored } from "./policy-updated.js";
import type { Announcement, BucketChange, BucketGeneration } from "./policy-updated.js";
import type { LivePolicies, PolicySetInForce } from "./service.js";

/** How long a writer whose call has no deadline waits for its change's record. */
const DEFAULT_RECORD_WAIT_MS = 10_000;
/** A writer gives up this long before its deadline, so that its caller hears why rather than DEADLINE_EXCEEDED. */
const DEADLINE_MARGIN_MS = 250;
/** Outcomes of operators' records kept for writers to look up: far more changes than arrive within one call's deadline. */
const MAX_RECORDS = 1024;

/** Largest delay between two attempts to read the bucket's generation. */
const MAX_GENERATION_RETRY_MS = 5_000;

/** How current a copy is known to be, as a staleness guard reads it (CopyFreshness of @sts/revocation). */
interface CopyFreshness {
  confirmedAt: number | undefined;
  probeIntervalMs: number;
}

/** Bounds how stale a copy may be decided from: a StalenessGuard of @sts/revocation, as the revocation readers use. */
export interface StalenessCheck {
  /** Throws temporarily_unavailable once the copy may miss changes for longer than allowed. */
  check(copy: CopyFreshness): void;
}

/** Options of {@link LivePolicySet}. */
export interface LivePolicySetOptions {
  /** The policies bucket's generation when the copy was loaded, part of each event id and answer. */
  generation: string;
  /** Delay before the first retry of a failed announcement; it doubles up to 5 s. */
  retryMs?: number;
  /** Without it, the copy is decided from however old it is (tests). */
  staleness?: StalenessCheck;
  /** How often the copy compares itself with the bucket (the KvCache's probeIntervalMs). */
  probeIntervalMs?: number;
  /** Reads the bucket's generation as it stands; without it, the generation given at start stays. */
  readGeneration?: () => Promise<BucketGeneration>;
  /** Milliseconds on the staleness check's clock (the guard's and the copy's); default stalenessNow of @sts/nats. */
  now?: () => number;
}

/** When the oldest version among `entries` was written (ms); undefined when there are none. */
function oldestWrite(entries: ReadonlyArray<[string, { created: Date }]>): number | undefined {
  let oldest: number | undefined;
  for (const [, e] of entries) oldest = Math.min(oldest ?? Infinity, e.created.getTime());
  return oldest;
}

/** Resolves with `p`, or with undefined once `until` (epoch ms) has passed. */
async function within<T>(p: Promise<T>, until: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, until - Date.now())).unref()));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Keeps an engine in step with the KV bucket. */
export class LivePolicySet implements LivePolicies {
  #engine: PolicyEngine;
  #revision = 0n;
  /** Ids of the policies in force at #revision, by KV key: where a burst's changes are replayed from. */
  #inForce = new Map<string, string>();
  /** Changes seen since the last rebuild, oldest first. */
  readonly #changes: BucketChange[] = [];
  #pending: NodeJS.Immediate | undefined;
  readonly #waiters = new Set<{ revision: bigint; resolve: () => void }>();
  /** By revision, the announcements naming an operator: resolve with true once JetStream has stored them. */
  readonly #records = new Map<bigint, Promise<boolean>>();
  /** Delay before the first retry of a failed announcement; it doubles up to 5 s. */
  readonly #retryMs: number;
  /** The generation of the bucket the set in force was read from, part of each event id (policy-updated.ts) and answer. */
  #generation: string;
  /** When the oldest version the set in force was built from was written (ms); undefined when it was built from none. */
  #oldestWrite: number | undefined;
  /** Counts reads of the bucket's generation: a read that a newer one superseded stops retrying. */
  #generationReads = 0;
  /**
   * Since when (ms) the bucket holds changes the set in force lacks because they do not make a policy set; undefined
   * while the set in force is the bucket's.
   */
  #behindSince: number | undefined;
  #stopped = false;
  readonly #options: LivePolicySetOptions;

  constructor(
    private readonly cache: KvCache<StoredPolicy>,
    private readonly events: EventPublisher | undefined,
    private readonly logger: Logger,
    options: LivePolicySetOptions,
  ) {
    this.#retryMs = options.retryMs ?? 250;
    this.#generation = options.generation;
    this.#options = options;
    this.#engine = new PolicyEngine([]);
    this.#rebuild();
    cache.onChange((key, value, revision, created) => {
      this.#changes.push({ key, value, revision: BigInt(revision), created });
      this.#schedule();
    });
    cache.onLoaded(() => this.#schedule());
  }

  #schedule(): void {
    // A burst of changes (seeding, a watch replay) gives one rebuild. None while the copy reads the bucket again from
    // the start (a reconnect): it then holds some keys at their new versions and others at their old ones, a set that
    // never was (a broadened permit in force without the forbid written after it); the set in force stays until the
    // read is done. Stalled there, the copy is not confirmed, and the staleness bound ends the decisions.
    this.#pending ??= setImmediate(() => {
      this.#pending = undefined;
      if (!this.cache.reloading) this.#rebuild();
    });
  }

  #rebuild(): void {
    // Records written around the service under another id's key are found here, where the whole set is seen. Like a policy that no longer validates, one cannot simply be left
    // out (it may be a forbid someone meant): the set in force stays (an empty one denies everything) until the key
    // is removed or rewritten.
    const unreadable = this.cache.entries().filter(([, e]) => e.value.unreadable === true);
    if (unreadable.length > 0) {
      this.logger.error(
        { keys: unreadable.map(([key]) => key) },
        "stored records are not policies this release can read; keeping the policy set in force: delete those keys (nats kv del) or Put the policy each key belongs to",
      );
      this.#fellBehind();
      return;
    }
    const misfiled = this.cache.entries().filter(([key, e]) => !storedUnder(key, e.value));
    if (misfiled.length > 0) {
      this.logger.error(
        { keys: misfiled.map(([key]) => key), policy_ids: misfiled.map(([, e]) => e.value.id) },
        "stored policies sit under a key that is not their id's (written to the bucket around the policy service); keeping the policy set in force: delete those keys (nats kv del) or Put the policy each key belongs to",
      );
      this.#fellBehind();
      return;
    }
    const policies = [...this.cache.values()].filter(inForce);
    // Only what changed is validated again: the set in force was validated when it was built, and validating every
    // policy (each re-reads the schema, some milliseconds) on every change would stall every replica for seconds
    // once the bucket holds a few thousand.
    const invalid = policies.filter((p) => !this.#engine.holds(p) && !PolicyEngine.validatePolicy(p.text, { id: p.id }).ok);
    if (invalid.length > 0) {
      // Leaving out a stored policy that no longer validates could drop a forbid and widen
      // access: keep the engine in force (an empty one denies everything) and say why.
      this.logger.error({ policy_ids: invalid.map((p) => p.id) }, "stored policies do not validate; keeping the policy set in force");
      this.#fellBehind();
      return;
    }
    let engine: PolicyEngine;
    try {
      engine = new PolicyEngine(
        policies.map((p) => ({ id: p.id, text: p.text })),
        { basis: this.#engine },
      );
    } catch (err) {
      // Policies that each validate may still not make one set. Thrown from a rebuild (a watch callback, or the
      // constructor at start) this would end the process on every replica, again at each restart: refuse the set
      // as an invalid policy is refused.
      this.logger.error({ err, policy_ids: policies.map((p) => p.id) }, "stored policies do not make a policy set; keeping the policy set in force");
      this.#fellBehind();
      return;
    }
    this.#engine = engine;
    this.#behindSince = undefined;
    this.#oldestWrite = oldestWrite(this.cache.entries());
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
    if (revision !== previous && this.events) {
      this.logger.info({ revision: revision.toString(), policies: policies.length }, "policies reloaded");
      this.#announceChanges(this.events, before, changes, revision);
    }
    // After the announcements: a writer woken here finds its change's record under way.
    for (const w of this.#waiters) {
      if (w.revision > revision) continue;
      this.#waiters.delete(w);
      w.resolve();
    }
    void this.#followGeneration();
  }

  /** Notes that the set in force no longer is the bucket's: it is decided from for the staleness bound at most. */
  #fellBehind(): void {
    this.#behindSince ??= (this.#options.now ?? stalenessNow)();
  }

  /**
   * Reads the bucket's generation after each rebuild, retrying while NATS cannot answer: a rebuild is how a copy read
   * again from a bucket made anew shows, and its answers must say so before the exchangers take them for older ones.
   */
  async #followGeneration(): Promise<void> {
    const read = this.#options.readGeneration;
    if (!read) return;
    const attempt = ++this.#generationReads;
    for (let delay = this.#retryMs; attempt === this.#generationReads && !this.#stopped; delay = Math.min(delay * 2, MAX_GENERATION_RETRY_MS)) {
      try {
        const generation = await read();
        if (attempt === this.#generationReads) this.#adopt(generation);
        return;
      } catch (err) {
        this.logger.warn({ err }, "cannot read the policies bucket's generation; retrying");
      }
      await new Promise((r) => setTimeout(r, delay).unref());
    }
  }

  /**
   * Answers in `standing`'s generation once the set in force can only have been read from it. Every version of a
   * bucket made anew was written after it was made, and its revisions count from 1: a set built from an older version,
   * or at a revision past the new bucket's last (the copy's count carried over), comes at least in part from the bucket
   * before, and labelled with the new generation it would make the exchangers refuse the new bucket's revisions below it.
   */
  #adopt(standing: BucketGeneration): void {
    if (standing.id === this.#generation) return;
    if ((this.#oldestWrite ?? Infinity) < standing.createdMs || this.#revision > standing.lastRevision) return;
    this.logger.warn(
      { generation: standing.id, previous: this.#generation, revision: this.#revision.toString() },
      "policies bucket made anew: deciding in its generation",
    );
    this.#generation = standing.id;
    // The exchangers hear the new generation from the announcement too, and drop what the old bucket's set decided.
    if (this.events) this.#announceChanges(this.events, this.#inForce, [], this.#revision);
  }

  /**
   * Announces the set now in force, named by the change made at its revision; before it, each operator's change of
   * the burst that this announcement would otherwise hide, with the set in force just after that change.
   */
  #announceChanges(events: EventPublisher, before: ReadonlyMap<string, string>, changes: readonly BucketChange[], revision: bigint): void {
    for (const record of operatorChanges(before, changes, (r) => r < revision)) this.#announce(events, record);
    const current = this.cache.entries().find(([, e]) => BigInt(e.revision) === revision)?.[1];
    // A key removed outside the service leaves no entry: its change still says when it was made.
    const made = current?.created ?? changes.find((c) => c.revision === revision)?.created;
    this.#announce(events, { data: policyUpdatedData(revision, this.#inForce.values(), current?.value), made });
  }

  /** Publishes policy.updated, retrying a failed publish with the same event behind the caller. */
  #announce(events: EventPublisher, announcement: Announcement): void {
    const revision = BigInt(announcement.data.revision);
    // The record of an operator's change must get out; an announcement naming nobody only drops caches, as a newer one does.
    const mustGetOut = announcement.data.sub !== undefined;
    const published = publishUntilStored(events, announcement, {
      generation: this.#generation,
      retryMs: this.#retryMs,
      logger: this.logger,
      // Stopped, no record is retried on: the next replica to start announces again every change the bucket holds
      // (missed-records.ts), and a loop left running would publish on a closed connection, warning, for good.
      giveUp: () => this.#stopped || (!mustGetOut && this.#revision !== revision),
    });
    if (!mustGetOut) return;
    this.#records.set(revision, published);
    for (const oldest of this.#records.keys()) {
      if (this.#records.size <= MAX_RECORDS) break;
      this.#records.delete(oldest);
    }
  }

  /**
   * Resolves once this replica runs `revision` and the policy.updated record of the operator's change made at it is
   * stored; else, by the call's deadline, rejects with temporarily_unavailable. The exchangers drop their cached
   * decisions on hearing the event, and the record is what says who made the change.
   */
  async recorded(revision: bigint, deadline?: Date): Promise<void> {
    const until = deadline ? deadline.getTime() - DEADLINE_MARGIN_MS : Date.now() + DEFAULT_RECORD_WAIT_MS;
    if (this.#revision < revision) {
      const waiter = { revision, resolve: (): void => undefined };
      try {
        await within(new Promise<void>((resolve) => this.#waiters.add(Object.assign(waiter, { resolve }))), until);
      } finally {
        // A writer that gave up must not stay behind until a revision that may never come.
        this.#waiters.delete(waiter);
      }
    }
    if (this.#revision < revision && this.#behindSince !== undefined) {
      // Not a record still on its way: the change waits for a set the bucket cannot make, and a retry cannot cure that.
      throw unavailable(
        `the change is stored at revision ${revision} but is in force nowhere: the stored policies do not make a policy set (see the policy service's log)`,
      );
    }
    const record = this.#records.get(revision);
    if (record && (await within(record, until)) === true) return;
    throw unavailable(
      `the change is stored at revision ${revision} but its policy.updated record is not yet; it is retried with the same event id: Get the policy before changing it again`,
    );
  }

  /** How many writers wait for a revision this replica does not run yet. */
  waiting(): number {
    return this.#waiters.size;
  }

  /** The engine in force, however old this replica's copy is (see {@link inForce}). */
  engine(): PolicyEngine {
    return this.#engine;
  }

  /** The KV revision the engine in force was built from. */
  revision(): bigint {
    return this.#revision;
  }

  /** The generation of the bucket that revision counts in. */
  generation(): string {
    return this.#generation;
  }

  /**
   * The set in force to decide with; throws temporarily_unavailable once this replica's copy may have missed changes
   * for longer than allowed (SECURITY.md: a cached state is trusted for a bounded staleness, then fails closed).
   */
  inForce(): PolicySetInForce {
    const staleness = this.#options.staleness;
    try {
      staleness?.check({ confirmedAt: this.cache.confirmedAt, probeIntervalMs: this.#options.probeIntervalMs ?? 0 });
    } catch (err) {
      throw unavailable("this policy replica cannot confirm its policies are current (cut off from the policies bucket); retry", err);
    }
    // A set kept because the bucket's policies do not make one is as behind the bucket as a copy cut off from it: an
    // operator's forbid stored since is in force nowhere. The copy itself is current, so the bound runs from the change.
    if (this.#behindSince !== undefined) {
      try {
        staleness?.check({ confirmedAt: this.#behindSince, probeIntervalMs: 0 });
      } catch (err) {
        throw unavailable("the stored policies do not make a policy set (see the policy service's log); the older set is no longer decided from", err);
      }
    }
    return { engine: this.#engine, revision: this.#revision, generation: this.#generation };
  }

  /** Whether {@link inForce} answers now (readiness). */
  fresh(): boolean {
    try {
      this.inForce();
      return true;
    } catch {
      return false;
    }
  }

  /** Stops following the bucket's generation, and retrying announcements (an operator's record included). */
  stop(): void {
    this.#stopped = true;
  }

  get(id: string): (StoredPolicy & { revision: bigint }) | undefined {
    // Under its own key only: another record naming the same id elsewhere is not this policy, and its revision is not
    // the one a Put or Delete of this id writes over.
    const e = this.cache.entry(encodeKey(id));
    return e && e.value.id === id && inForce(e.value) ? { ...e.value, revision: BigInt(e.revision) } : undefined;
  }

  list(): Array<StoredPolicy & { revision: bigint }> {
    return this.cache
      .entries()
      .filter(([key, e]) => inForce(e.value) && storedUnder(key, e.value))
      .map(([, e]) => ({ ...e.value, revision: BigInt(e.revision) }))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }
}
