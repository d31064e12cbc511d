/**
 * The revocations a verifier holds in memory, fed by a watch of the bucket.
 * KV `max_age` removes a record from the server without a watch event, so a
 * cache that only follows the watch would keep every revocation it ever saw
 * for as long as the process lives. This one is read anew from the bucket
 * now and then (a fresh watch reads only what the bucket still holds) and
 * the new copy replaces the old once loaded: memory follows the bucket's
 * retention, and lookups never wait on the network or see a half-read copy.
 * Its owner keeps a record longer than any token lives (max_age at least
 * twice the longest lifetime), so nothing is forgotten while it still matters.
 */
import type { KV } from "@nats-io/kv";
import { BUCKETS, KvCache } from "@sts/nats";
import type { NatsLogger } from "@sts/nats";
import { parseRevocation } from "./revocation-list.js";
import type { RevocationRecord } from "./revocation-list.js";

/** How often the bucket is read anew by default: an hour, small against the bucket's retention (a day or more). */
export const DEFAULT_RELOAD_INTERVAL_MS = 60 * 60_000;

/** Options of {@link RevocationCache}. */
export interface RevocationCacheOptions {
  logger?: NatsLogger;
  /** How often (ms) the bucket is read anew, dropping what it no longer holds. Default {@link DEFAULT_RELOAD_INTERVAL_MS}. */
  reloadIntervalMs?: number;
}

/** A watch-fed copy of the revocations bucket that forgets what the bucket's max_age removed. */
export class RevocationCache {
  readonly #kv: KV;
  readonly #logger: NatsLogger | undefined;
  readonly #intervalMs: number;
  readonly #timer: NodeJS.Timeout;
  #current: KvCache<RevocationRecord>;
  /** The copy being loaded, if a reload is under way. */
  #next: KvCache<RevocationRecord> | undefined;
  #reloading: Promise<void> | undefined;
  readonly #stopped: Promise<void>;
  #stop: () => void = () => undefined;

  constructor(kv: KV, options: RevocationCacheOptions = {}) {
    this.#kv = kv;
    this.#logger = options.logger;
    this.#current = this.#open();
    this.#stopped = new Promise((resolve) => (this.#stop = resolve));
    // A process that only verifies must still be able to exit: the timer never keeps it alive.
    this.#intervalMs = options.reloadIntervalMs ?? DEFAULT_RELOAD_INTERVAL_MS;
    this.#timer = setInterval(() => void this.reload(), this.#intervalMs).unref();
  }

  #open(): KvCache<RevocationRecord> {
    return new KvCache(this.#kv, { parse: parseRevocation, name: BUCKETS.revocations, ...(this.#logger && { logger: this.#logger }) });
  }

  /** Resolves once the bucket's current revocations have been loaded. */
  ready(): Promise<void> {
    return this.#current.ready();
  }

  /** The revocation under an (already encoded) key. */
  get(key: string): RevocationRecord | undefined {
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
    this.#current.stop();
    this.#next?.stop();
    this.#stop();
  }
}
