/**
 * A read cache of a whole KV bucket fed by a watch, so reads on the hot path
 * never go to the network and a change made through one replica reaches all.
 * Values are JSON validated by `parse`; a bad value is logged and, as its
 * bucket's owner says (`invalid`), either forgotten with the key or ignored.
 * When the watch ends (e.g. the server went away for long), it is made anew.
 *
 * A watch can also fall silent while the connection stands: a bucket created
 * again (NATS lost its store, or an operator re-made it) numbers its writes
 * from 1, and the ordered consumer behind a running watch resumes after the
 * old stream's last sequence, so it never delivers them. So the copy compares
 * itself with the bucket's stream every `probeIntervalMs`: a stream created
 * anew, or one whose last sequence is behind what the copy applied, makes it
 * read the bucket again from the start, dropping what the new bucket does not
 * hold. The same probe says when the copy last held everything the bucket did
 * ({@link KvCache.confirmedAt}), which is what a reader bounds staleness by.
 *
 * A server may also come back without its last writes (an OS crash before
 * JetStream's fsync, a restore from backup), keeping its stream's created
 * time and numbering new writes with the lost sequences: the running watch
 * resumes past them, and once new writes pass the lost ones the probe sees
 * nothing wrong. So a copy of a bucket opened with openBucket reads it again
 * from the start at each reconnect, which is rare, and is confirmed current
 * by that read.
 */
import type { KV, KvWatchEntry } from "@nats-io/kv";
import { connectionOf } from "./buckets.js";
import type { NatsLogger } from "./connection.js";
import { stalenessNow } from "./staleness-clock.js";

/**
 * What a cache does with a value `parse` refuses under a key it held a good one for (a half-written record, or one
 * written by a newer release in a shape this one does not know). The safe side depends on what a value grants:
 * - `forget`: the key is dropped, said like a delete (a value that grants something: a client, a signing key);
 * - `keep-previous`: the earlier good value stays (a value that takes something away: a revocation, which a bad
 *   write must not lift).
 */
export type InvalidValuePolicy = "forget" | "keep-previous";

/** Options of KvCache. */
export interface KvCacheOptions<T> {
  /** Reads a value (JSON) stored under `key`; undefined when it is not one. */
  parse: (raw: unknown, key: string) => T | undefined;
  /** See {@link InvalidValuePolicy}; every owner chooses. */
  invalid: InvalidValuePolicy;
  /**
   * What a value under `key` that is not JSON, or that `parse` refuses, stands for (`created`: when it was written). A
   * value returned is held like a good one, so that an owner whose records take something away can read the key itself
   * as the record (a revocation it cannot read must still refuse: `keep-previous` alone holds nothing for a key first
   * seen unreadable, as every fresh copy sees it). Undefined, or absent: `invalid` applies.
   */
  unreadable?: (key: string, created: Date) => T | undefined;
  logger?: NatsLogger;
  /** Only keys matching this filter (NATS wildcards). */
  key?: string;
  /** Name for logs. */
  name?: string;
  /**
   * Values (JSON) that stand for no entry by design, such as a marker a writer leaves in a record's place: held as a
   * delete, without the warning a value `parse` refuses gets. Default: none.
   */
  absent?: (raw: unknown) => boolean;
  /** Values to hold; one that fails is not held (not an error: a record past its use, say). Default: all. */
  keep?: (value: T) => boolean;
  /** How often the copy is compared with the bucket's stream (ms); default {@link DEFAULT_PROBE_INTERVAL_MS}. */
  probeIntervalMs?: number;
}

/** Default of {@link KvCacheOptions.probeIntervalMs}: one STREAM.INFO per copy every few seconds. */
export const DEFAULT_PROBE_INTERVAL_MS = 5_000;

/**
 * Probe periods a watch may take to deliver a write the bucket held before it is deemed stalled and made anew: a stall
 * then heals in a few probe periods, inside a reader's staleness bound, instead of failing its requests closed.
 */
const STALLED_PROBES = 2;

/** A watch-fed map of one bucket. */
export class KvCache<T> {
  readonly #kv: KV;
  readonly #o: KvCacheOptions<T>;
  readonly #map = new Map<string, { value: T; revision: number; created: Date }>();
  readonly #listeners: Array<(key: string, value: T | undefined, revision: number, created: Date) => void> = [];
  readonly #loadListeners: Array<() => void> = [];
  #ready: Promise<void>;
  #markReady: () => void = () => undefined;
  #stopped = false;
  #stopWatch: (() => void) | undefined;
  /** How many watches were retired (a reconnect, a bucket made anew): one begun before the last applies nothing more. */
  #retired = 0;
  readonly #stopListening: () => void;
  #revision = 0;
  /** When the bucket's stream the current watch reads was created (its generation); undefined before the first watch. */
  #generation: string | undefined;
  /** Keys the current watch delivered while it loads the bucket's values: the rest are dropped once it has. */
  #seen: Set<string> | undefined;
  /** When the copy last held every write the bucket had (on {@link stalenessNow}'s clock). */
  #confirmedAt: number | undefined;
  /** A probe's last sequence not yet applied, and when it was read: confirmed once the watch reaches it. */
  #pending: { seq: number; at: number } | undefined;
  /** Entries the watches delivered, ever: a load under way that adds none across probes has stalled. */
  #delivered = 0;
  /** The current watch's load, once the watch is made: what had been delivered when it last moved on, and when. */
  #loadProgress: { delivered: number; at: number } | undefined;
  readonly #probe: NodeJS.Timeout;
  readonly #probeIntervalMs: number;
  /** Callers of {@link KvCache.reached} waiting for a revision this copy has not applied yet. */
  readonly #waiters = new Set<{ revision: number; done: (reached: boolean) => void }>();

  constructor(kv: KV, options: KvCacheOptions<T>) {
    this.#kv = kv;
    this.#o = options;
    this.#ready = new Promise((r) => (this.#markReady = r));
    // Never keeps a process alive; a probe that fails (NATS away) confirms nothing, which is the point.
    this.#probeIntervalMs = options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.#probe = setInterval(() => void this.#compare().catch(() => undefined), this.#probeIntervalMs).unref();
    this.#stopListening =
      connectionOf(kv)?.onStatusChange((connected) => {
        if (connected) this.#retire();
      }) ?? ((): void => undefined);
    void this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const retired = this.#retired;
      try {
        const startedAt = stalenessNow();
        const status = await this.#kv.status();
        this.#generation = status.streamInfo.created;
        // Every watch reloads the bucket's values: a key deleted while no watch ran (its marker gone since) or absent
        // from a bucket made anew is dropped once they are in.
        const seen = (this.#seen = new Set());
        const iter = await this.#kv.watch({ ...(this.#o.key && { key: this.#o.key }) });
        this.#stopWatch = () => iter.stop();
        // Retired while it was made, it may have begun on the server from before a restart: made again.
        if (retired !== this.#retired) iter.stop();
        else if ((await initialPending(iter)) === 0) this.#loaded(seen, startedAt);
        else if (retired === this.#retired) this.#loadProgress = { delivered: this.#delivered, at: stalenessNow() };
        for await (const e of iter) {
          if (retired !== this.#retired) break;
          this.#apply(e);
          if (e.isUpdate || e.delta === 0) this.#loaded(seen, startedAt);
        }
      } catch (err) {
        if (!this.#stopped) this.#o.logger?.warn({ err, bucket: this.#o.name }, "KV watch failed; retrying");
      }
      // A watch retired on purpose is made again at once: the copy is not confirmed until it has loaded.
      if (!this.#stopped && retired === this.#retired) await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Ends the current watch: the bucket is read again from the start, the copy kept until that read has loaded. */
  #retire(): void {
    this.#retired++;
    this.#generation = undefined;
    this.#pending = undefined;
    this.#loadProgress = undefined;
    this.#stopWatch?.();
  }

  /**
   * The watch begun at `startedAt` has delivered the bucket's values (those in `seen`): what the copy holds besides is
   * no longer there, and the copy held every write the bucket had when the watch began.
   */
  #loaded(seen: Set<string>, startedAt: number): void {
    if (this.#seen === seen) {
      this.#seen = undefined;
      this.#loadProgress = undefined;
      if (this.#o.key === undefined) this.#confirmedAt = Math.max(this.#confirmedAt ?? 0, startedAt);
      for (const [key, entry] of this.#map) {
        if (seen.has(key)) continue;
        this.#map.delete(key);
        this.#emit(key, undefined, entry.revision, entry.created);
      }
      for (const l of this.#loadListeners) l();
    }
    this.#markReady();
  }

  /**
   * Whether a watch is reading the bucket again from the start (at a reconnect, or a bucket made anew): until it has,
   * the copy holds some keys at their new values and the rest at the old ones, a state the bucket never was in. A
   * reader that must see the bucket as one state (a policy set: a broadened permit applied before the forbid written
   * after it) waits for {@link onLoaded}.
   */
  get reloading(): boolean {
    return this.#seen !== undefined;
  }

  /** Calls `cb` each time a watch has read the whole bucket (the copy is one state of the bucket again). */
  onLoaded(cb: () => void): void {
    this.#loadListeners.push(cb);
  }

  /** Compares the copy with the bucket's stream: reads a bucket made anew from the start; confirms a copy that is current. */
  async #compare(): Promise<void> {
    if (this.#generation === undefined || this.#stopped) return;
    const at = stalenessNow();
    const retired = this.#retired;
    const { created, state } = (await this.#kv.status()).streamInfo;
    // Retired meanwhile (a reconnect): what was read may be the server from before.
    if (retired !== this.#retired) return;
    if (created !== this.#generation || state.last_seq < this.#revision) {
      this.#o.logger?.warn({ bucket: this.#o.name }, "KV bucket was created anew: reading it again from the start");
      this.#revision = 0;
      this.#retire();
      return;
    }
    // A copy still loading (after a reconnect, its revision from before) is confirmed by its load, unless that stalled.
    if (this.#seen !== undefined) {
      this.#checkLoad(at);
      return;
    }
    // With a key filter, the stream's last write may be one this copy never receives: no sequence confirms it.
    if (this.#o.key !== undefined) return;
    if (state.messages === 0 || state.last_seq <= this.#revision) {
      this.#confirmedAt = at;
    } else if (this.#pending && at - this.#pending.at > STALLED_PROBES * this.#probeIntervalMs) {
      // A write the bucket held probes ago never came: the watch stalled with the connection up (its consumer lost on a
      // cluster node that restarted), which nats.js notices only after two missed idle heartbeats of 30 s each.
      this.#o.logger?.warn({ bucket: this.#o.name, behind: state.last_seq - this.#revision }, "KV watch stalled: reading the bucket again");
      this.#retire();
    } else {
      this.#pending ??= { seq: state.last_seq, at };
    }
  }

  /**
   * Makes anew a watch whose load has delivered nothing for more than {@link STALLED_PROBES} probe periods. Such a load
   * never finishes by itself: its consumer was lost mid-read (a cluster node restarting, as happens around the
   * reconnect that began the load) and nats.js notices only after two missed idle heartbeats of 30 s; or the entries it
   * counted were removed (max_age) before they came, and it waits for a write that may never come. Meanwhile the copy
   * is not confirmed, so a reader bounding its age fails closed, and a first load keeps its service unready.
   */
  #checkLoad(at: number): void {
    const progress = this.#loadProgress;
    // Not made yet: making it is a request, which times out and is retried by itself.
    if (progress === undefined) return;
    if (progress.delivered !== this.#delivered) {
      this.#loadProgress = { delivered: this.#delivered, at };
    } else if (at - progress.at > STALLED_PROBES * this.#probeIntervalMs) {
      this.#o.logger?.warn({ bucket: this.#o.name, delivered: this.#seen?.size ?? 0 }, "KV watch stalled while reading the bucket: reading it again");
      this.#retire();
    }
  }

  /**
   * When this copy was last seen to hold every write the bucket had, on {@link stalenessNow}'s clock (never the wall
   * clock: a step back would make the copy look younger); undefined until first seen so, and always for a copy with a
   * key filter. A reader that must not answer from a stale copy bounds its age on that clock.
   */
  get confirmedAt(): number | undefined {
    return this.#confirmedAt;
  }

  #apply(e: KvWatchEntry): void {
    this.#delivered++;
    this.#seen?.add(e.key);
    if (e.revision > this.#revision) this.#revision = e.revision;
    // Its waiters resume as promises do, after this entry is applied and its listeners told: they read the new state.
    for (const w of this.#waiters) {
      if (w.revision > this.#revision) continue;
      this.#waiters.delete(w);
      w.done(true);
    }
    if (this.#pending && this.#revision >= this.#pending.seq) {
      this.#confirmedAt = this.#pending.at;
      this.#pending = undefined;
    }
    if (e.operation !== "PUT") {
      if (this.#map.delete(e.key)) this.#emit(e.key, undefined, e.revision, e.created);
      return;
    }
    let value: T | undefined;
    let raw: unknown;
    try {
      raw = e.json();
      value = this.#o.parse(raw, e.key);
    } catch {
      value = undefined;
    }
    if (value === undefined && raw !== undefined && this.#o.absent?.(raw)) {
      if (this.#map.delete(e.key)) this.#emit(e.key, undefined, e.revision, e.created);
      return;
    }
    if (value === undefined) {
      value = this.#o.unreadable?.(e.key, e.created);
      if (value !== undefined) {
        this.#o.logger?.warn({ key: e.key, bucket: this.#o.name, held: "as unreadable" }, "KV value not valid: held as its owner reads an unreadable one");
      } else {
        const forget = this.#o.invalid === "forget";
        this.#o.logger?.warn({ key: e.key, bucket: this.#o.name, held: forget ? "forgotten" : "previous value kept" }, "KV value skipped: not valid");
        if (forget && this.#map.delete(e.key)) this.#emit(e.key, undefined, e.revision, e.created);
        return;
      }
    }
    if (this.#o.keep && !this.#o.keep(value)) {
      // Said like a delete: a listener indexing the values must not keep the one this replaced.
      if (this.#map.delete(e.key)) this.#emit(e.key, undefined, e.revision, e.created);
      return;
    }
    this.#map.set(e.key, { value, revision: e.revision, created: e.created });
    this.#emit(e.key, value, e.revision, e.created);
  }

  #emit(key: string, value: T | undefined, revision: number, created: Date): void {
    for (const l of this.#listeners) l(key, value, revision, created);
  }

  /** Resolves once the bucket's current values have been loaded. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /**
   * Resolves true once this copy has applied the bucket's write at `revision` (what a put, create or update answered)
   * or a later one, false if the copy is stopped or `signal` aborts first (the waiter is then let go, not kept until
   * the revision comes): a writer that waits for it reads its own write from the copy.
   */
  reached(revision: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#revision >= revision) return Promise.resolve(true);
    if (this.#stopped || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.#waiters.delete(waiter);
        resolve(false);
      };
      const waiter = {
        revision,
        done: (reached: boolean): void => {
          signal?.removeEventListener("abort", onAbort);
          resolve(reached);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /** The value under an (already encoded) key. */
  get(key: string): T | undefined {
    return this.#map.get(key)?.value;
  }

  /** The value, its KV revision and when that revision was written. */
  entry(key: string): { value: T; revision: number; created: Date } | undefined {
    return this.#map.get(key);
  }

  /** Every value. */
  values(): IterableIterator<T> {
    return [...this.#map.values()].map((e) => e.value)[Symbol.iterator]();
  }

  /** Every key and entry. */
  entries(): Array<[string, { value: T; revision: number; created: Date }]> {
    return [...this.#map.entries()];
  }

  /**
   * Drops from this copy (never from the bucket) the values `drop` picks, said to listeners like a delete (an index
   * built from onChange unfiles them as it would any); returns how many.
   */
  forget(drop: (value: T) => boolean): number {
    let dropped = 0;
    for (const [key, entry] of this.#map) {
      if (drop(entry.value)) {
        this.#map.delete(key);
        this.#emit(key, undefined, entry.revision, entry.created);
        dropped++;
      }
    }
    return dropped;
  }

  /** How many values this copy holds. */
  get size(): number {
    return this.#map.size;
  }

  /** Highest KV revision seen (a version of the whole bucket). */
  get revision(): number {
    return this.#revision;
  }

  /** Called on every put or delete seen, with when it was written. */
  onChange(cb: (key: string, value: T | undefined, revision: number, created: Date) => void): void {
    this.#listeners.push(cb);
  }

  /** Stops watching. */
  stop(): void {
    this.#stopped = true;
    // Retires a watch still being made too: nobody reads this copy, and its consumer would stay on the server for good.
    this.#retired++;
    clearInterval(this.#probe);
    this.#stopListening();
    this.#stopWatch?.();
    for (const w of this.#waiters) w.done(false);
    this.#waiters.clear();
  }
}

/**
 * How many entries a watch delivers before it is current: its consumer's pending count when it was made. nats.js
 * marks the entries after that many as updates but delivers nothing when there are none (nats-io/nats.js#270), and
 * the bucket's message count cannot tell that a key filter matches none of its keys.
 */
async function initialPending(iter: Awaited<ReturnType<KV["watch"]>>): Promise<number> {
  // Bucket.watch keeps its consumer on the iterator (QueuedIteratorImpl._data), with the info read when it was made: the
  // count it marks updates by.
  const consumer = (iter as { _data?: unknown })._data as { info?: (cached: boolean) => Promise<{ num_pending: number }> } | undefined;
  if (typeof consumer?.info !== "function") throw new TypeError("KvCache: this nats.js KV watch does not expose its consumer");
  return (await consumer.info(true)).num_pending;
}
