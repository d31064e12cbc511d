/**
 * The revocations a verifier holds in memory, fed by a watch of the bucket.
 * KV `max_age` removes a record from the server without a watch event, so a
 * cache that only follows the watch would keep every revocation it ever saw
 * for as long as the process lives. This one is read anew from the bucket
 * now and then (a fresh watch reads only what the bucket still holds) and
 * the new copy replaces the old once loaded: memory follows the bucket's
 * retention, and lookups never wait on the network or see a half-read copy.
 * Its owner keeps a record longer than any token lives (max_age at least
 * twice the longest lifetime, a day or more), so nothing is forgotten while
 * it still matters.
 *
 * A record is of use only while its token can still pass a verifier: until
 * its `exp` plus the clock tolerance verifiers grant. A token made from it
 * never outlives it (an exchanged token's lifetime is bounded by its subject's
 * and actor's), so its lineage needs the record no longer either. The copy
 * therefore holds a record only until then, not for the bucket's day: with
 * five-minute tokens that is a few minutes of revocations instead of a day's,
 * in every sidecar.
 *
 * Subject revocations sit in the same bucket and the same copy. Both kinds
 * are indexed by what a token holds, token records by jti (decoded from the
 * key once, as it arrives) and subject records by issuer and subject (the
 * record's own fields), so the check every verifier makes per token is Map
 * lookups on strings it already holds, with nothing encoded or allocated. A
 * subject record's `exp` is when the last token it covers can expire, so it
 * is pruned the same way. So are withdrawn signing keys, indexed by issuer
 * and kid (the record's own fields): their `exp` is when the last token the
 * key could have signed expires.
 *
 * A value this release cannot read (not JSON, a shape it does not know, a
 * record of another kind than its key) still revokes what its key names:
 * the jti, the subject (every token of it begun until the value was
 * written) or the signing key. Only the issuer writes the bucket, so such a
 * value is a half-written record or one of a newer release, and reading it
 * as no revocation would lift one: at once in a copy that never held the
 * key's earlier value, which every reload and every restarted replica is.
 */
import type { KV } from "@nats-io/kv";
import { BUCKETS, DEFAULT_PROBE_INTERVAL_MS, KvCache, decodeKey, isWellFormed } from "@sts/nats";
import type { NatsLogger } from "@sts/nats";
import {
  UnreadableRevocation,
  isKeyWithdrawal,
  isKeyWithdrawalKey,
  isSubjectKey,
  isSubjectRevocation,
  keyWithdrawalKey,
  parseRevocationUnder,
  subjectKey,
} from "./revocation-list.js";
import type { CopyFreshness, KeyWithdrawalRecord, RevocationLookup, StoredRevocation, SubjectRevocationRecord } from "./revocation-list.js";

/** What the copy holds under a key: a record, or the mark of one it cannot read. */
type Held = StoredRevocation | UnreadableRevocation;

/** How often the bucket is read anew by default: an hour, small against the bucket's retention (a day or more). */
export const DEFAULT_RELOAD_INTERVAL_MS = 60 * 60_000;

/** How often records past their use are dropped from memory by default. */
export const DEFAULT_SWEEP_INTERVAL_MS = 60_000;

/** Kept past the clock tolerance, so a verifier's clock a little behind this one's never meets a forgotten record. */
const RETENTION_MARGIN_SECONDS = 60;

/** Options of {@link RevocationCache}. */
export interface RevocationCacheOptions {
  logger?: NatsLogger;
  /** How often (ms) the bucket is read anew, dropping what it no longer holds. Default {@link DEFAULT_RELOAD_INTERVAL_MS}. */
  reloadIntervalMs?: number;
  /** The verifiers' clock tolerance (config `tokens.clock_tolerance`), in seconds: a record is held until its exp plus this (and a margin). */
  clockToleranceSeconds: number;
  /** How often (ms) records past that are dropped. Default {@link DEFAULT_SWEEP_INTERVAL_MS}. */
  sweepIntervalMs?: number;
  /** Seconds since epoch (a test clock). */
  now?: () => number;
  /** How often (ms) the copy is compared with the bucket (see KvCache). Default {@link DEFAULT_PROBE_INTERVAL_MS}. */
  probeIntervalMs?: number;
}

/** A watch-fed copy of the revocations bucket that forgets what the bucket's max_age removed. */
export class RevocationCache implements RevocationLookup, CopyFreshness {
  readonly #kv: KV;
  readonly #logger: NatsLogger | undefined;
  readonly #intervalMs: number;
  readonly probeIntervalMs: number;
  readonly #timer: NodeJS.Timeout;
  readonly #sweeper: NodeJS.Timeout;
  /** Whether a record can still matter to a verifier; one it cannot read has no exp to tell, so always. */
  readonly #inUse: (r: Held) => boolean;
  #current: Copy;
  /** The copy being loaded, if a reload is under way. */
  #next: Copy | undefined;
  #reloading: Promise<void> | undefined;
  readonly #stopped: Promise<void>;
  #stop: () => void = () => undefined;

  constructor(kv: KV, options: RevocationCacheOptions) {
    this.#kv = kv;
    this.#logger = options.logger;
    const now = options.now ?? ((): number => Math.floor(Date.now() / 1000));
    const retainSeconds = options.clockToleranceSeconds + RETENTION_MARGIN_SECONDS;
    this.#inUse = (r) => r instanceof UnreadableRevocation || r.exp + retainSeconds > now();
    this.probeIntervalMs = options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.#current = this.#open();
    this.#stopped = new Promise((resolve) => (this.#stop = resolve));
    // A process that only verifies must still be able to exit: the timer never keeps it alive.
    this.#intervalMs = options.reloadIntervalMs ?? DEFAULT_RELOAD_INTERVAL_MS;
    this.#timer = setInterval(() => void this.reload(), this.#intervalMs).unref();
    this.#sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS).unref();
  }

  #open(): Copy {
    return new Copy(
      new KvCache(this.#kv, {
        parse: parseRevocationUnder,
        // A write this copy cannot read never lifts a revocation: its key still revokes what it names.
        invalid: "keep-previous",
        unreadable: (_key, created) => new UnreadableRevocation(created),
        // A (re)load takes in only records still in use: memory never holds the bucket's whole day.
        keep: this.#inUse,
        name: BUCKETS.revocations,
        probeIntervalMs: this.probeIntervalMs,
        ...(this.#logger && { logger: this.#logger }),
      }),
    );
  }

  /** Drops the records whose tokens can no longer pass a verifier; returns how many. */
  sweep(): number {
    return this.#current.forget((r) => !this.#inUse(r));
  }

  /** When every token of the subject issued until then was revoked (seconds), if it was. */
  subjectRevokedAt(iss: string, sub: string): number | undefined {
    return this.#current.subjectRevokedAt(iss, sub);
  }

  /** Whether the token id is revoked. */
  isRevoked(jti: string): boolean {
    return this.#current.isRevoked(jti);
  }

  /** Whether the issuer's signing key was withdrawn. */
  isKeyWithdrawn(iss: string, kid: string): boolean {
    return this.#current.isKeyWithdrawn(iss, kid);
  }

  /** When the copy in use was last seen to hold every write the bucket had (ms on the staleness clock, see KvCache). */
  get confirmedAt(): number | undefined {
    return this.#current.records.confirmedAt;
  }

  /** How many revocations are held. */
  get size(): number {
    return this.#current.size;
  }

  /** Resolves once the bucket's current revocations have been loaded. */
  ready(): Promise<void> {
    return this.#current.ready();
  }

  /**
   * Resolves true once the copy that answers lookups has applied the bucket's write at `revision`, false when
   * `timeoutMs` passed first or the cache was stopped. A copy a reload replaces meanwhile is not enough: the one that
   * replaced it is asked in turn.
   */
  async applied(revision: number, timeoutMs: number): Promise<boolean> {
    // An abort, not a race with a promise that settles only at stop: each write's wait is let go when it ends, where a
    // race kept its closures for the life of the process (about 1 KB per revocation written).
    const giveUp = new AbortController();
    const timer = setTimeout(() => giveUp.abort(), timeoutMs).unref();
    try {
      for (;;) {
        const copy = this.#current;
        // A stopped cache stops its copy, whose waiters answer false.
        const reached = await copy.records.reached(revision, giveUp.signal);
        if (giveUp.signal.aborted) return false;
        if (copy === this.#current) return reached;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** The revocation under an (already encoded) key; undefined for one this release cannot read. */
  get(key: string): StoredRevocation | undefined {
    return this.#current.get(key);
  }

  /**
   * Reads the bucket anew and, once loaded, answers from the new copy; resolves then, or when stopped or the attempt
   * is given up. One reload at a time, and the old copy, which follows the watch too, answers until the new one is loaded.
   */
  reload(): Promise<void> {
    this.#reloading ??= (async () => {
      const next = (this.#next = this.#open());
      let giveUp: NodeJS.Timeout | undefined;
      // A copy may never be loaded (NATS away, or the last values it was told of expiring before it read them): the
      // attempt ends after one interval so that the next one can start.
      const timedOut = new Promise<false>((resolve) => (giveUp = setTimeout(() => resolve(false), this.#intervalMs).unref()));
      const loaded = await Promise.race([next.ready().then(() => true), this.#stopped.then(() => false), timedOut]);
      clearTimeout(giveUp);
      this.#next = undefined;
      if (!loaded) {
        next.stop();
        return;
      }
      // The new copy's watch began before it was loaded: it holds every revocation the old one does that is still stored.
      const old = this.#current;
      this.#current = next;
      old.stop();
    })().finally(() => (this.#reloading = undefined));
    return this.#reloading;
  }

  /** Stops watching and reloading. */
  stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#sweeper);
    this.#current.stop();
    this.#next?.stop();
    this.#stop();
  }
}

/**
 * Records filed under hashed bucket keys, looked up by what a token holds (its issuer, then a sub or a kid): a
 * lookup encodes nothing. Each record is kept by its bucket key too, so a deleted key is unfiled without a scan.
 */
class IssuerIndex<R extends { iss: string }, V> {
  /** iss → id → value, from the records' own fields. */
  readonly #byIssuer = new Map<string, Map<string, V>>();
  /** Bucket key → the record under it. */
  readonly #byKey = new Map<string, R>();

  /** `entry` says what a record is filed as: its id and value (a subject's sub and revoked_at, a key's kid). */
  constructor(private readonly entry: (r: R) => [id: string, value: V]) {}

  /** Files `r`, stored under `key`, in place of what was there. */
  set(key: string, r: R): void {
    this.delete(key);
    this.#byKey.set(key, r);
    const [id, value] = this.entry(r);
    let ids = this.#byIssuer.get(r.iss);
    if (!ids) this.#byIssuer.set(r.iss, (ids = new Map<string, V>()));
    ids.set(id, value);
  }

  /** Unfiles the record stored under `key` (deleted from the bucket, replaced, or no longer in use). */
  delete(key: string): void {
    const r = this.#byKey.get(key);
    if (!r) return;
    this.#byKey.delete(key);
    const ids = this.#byIssuer.get(r.iss);
    ids?.delete(this.entry(r)[0]);
    if (ids?.size === 0) this.#byIssuer.delete(r.iss);
  }

  /** The value filed for `id` of `iss`, if any. */
  get(iss: string, id: string): V | undefined {
    return this.#byIssuer.get(iss)?.get(id);
  }
}

/** One loaded copy of the bucket, indexed by what a token holds: a check encodes and allocates nothing. */
class Copy {
  /** Revoked token ids, decoded from their keys once, as they arrive (a record's key says its jti, readable or not). */
  readonly #tokens = new Set<string>();
  /** Revoked subjects: iss → sub → revoked_at. */
  readonly #subjects = new IssuerIndex<SubjectRevocationRecord, number>((r) => [r.sub, r.revoked_at]);
  /** Withdrawn signing keys: iss → kid. */
  readonly #withdrawn = new IssuerIndex<KeyWithdrawalRecord, true>((r) => [r.kid, true]);
  /**
   * Subject and signing-key keys whose value this release cannot read, with when it was written (seconds). Their
   * names are hashed into the key, so a lookup hashes its names too, only while there are any.
   */
  readonly #unreadable = new Map<string, number>();

  constructor(readonly records: KvCache<Held>) {
    records.onChange((key, value) => {
      if (value instanceof UnreadableRevocation && (isKeyWithdrawalKey(key) || isSubjectKey(key))) this.#unreadable.set(key, value.writtenAt);
      else this.#unreadable.delete(key);
      if (isKeyWithdrawalKey(key)) {
        if (value && !(value instanceof UnreadableRevocation) && isKeyWithdrawal(value)) this.#withdrawn.set(key, value);
        else this.#withdrawn.delete(key);
      } else if (isSubjectKey(key)) {
        if (value && !(value instanceof UnreadableRevocation) && isSubjectRevocation(value)) this.#subjects.set(key, value);
        else this.#subjects.delete(key);
      } else if (value) {
        this.#tokens.add(decodeKey(key));
      } else {
        this.#tokens.delete(decodeKey(key));
      }
    });
  }

  subjectRevokedAt(iss: string, sub: string): number | undefined {
    const at = this.#subjects.get(iss, sub);
    if (at !== undefined || this.#unreadable.size === 0 || !isWellFormed(iss) || !isWellFormed(sub)) return at;
    return this.#unreadable.get(subjectKey(iss, sub));
  }

  isKeyWithdrawn(iss: string, kid: string): boolean {
    if (this.#withdrawn.get(iss, kid) === true) return true;
    return this.#unreadable.size > 0 && isWellFormed(iss) && isWellFormed(kid) && this.#unreadable.has(keyWithdrawalKey(iss, kid));
  }

  isRevoked(jti: string): boolean {
    return this.#tokens.has(jti);
  }

  get(key: string): StoredRevocation | undefined {
    const held = this.records.get(key);
    return held instanceof UnreadableRevocation ? undefined : held;
  }

  get size(): number {
    return this.records.size;
  }

  ready(): Promise<void> {
    return this.records.ready();
  }

  forget(drop: (r: Held) => boolean): number {
    // The copy says each forgotten record to onChange as a delete: the indexes above unfile it there.
    return this.records.forget(drop);
  }

  stop(): void {
    this.records.stop();
  }
}
