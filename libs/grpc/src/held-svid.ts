/**
 * The X.509-SVID a holder serves with (grpc_tls's credentials, a sidecar's
 * peer TLS): the one its source handed on last, dropped as soon as the agent
 * redacts it (SPIFFE Workload API §5.2.1), past use once its notAfter is
 * passed with no new one, and replaced by each new one. Holders on one socket
 * may share their source's stream (X509SvidStreams); each keeps its own.
 */
import type { X509Svid } from "./svid-material.js";
import { X509SvidSource } from "./workload-api.js";
import type { X509SvidSourceOptions } from "./workload-api.js";

/** What a holder is told of its SVID after the first (see {@link HeldSvid.follow}). */
export interface HeldSvidListener {
  /** A new SVID to use; `previous` is the one it replaces, undefined after a redaction. */
  applied(svid: X509Svid, previous: X509Svid | undefined): void;
  /** The agent redacted the SVID in use: it must no longer be used, not even until it expires. */
  redacted(): void;
  /** The SVID in use passed its notAfter and no new one came: peers refuse it from now on. */
  expired?(svid: X509Svid): void;
}

/** The longest delay setTimeout takes (about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The X.509-SVID in use from a Workload API source, and what becomes of it. */
export class HeldSvid {
  /** The SVID held when the source was opened: the holder starts with it. */
  readonly first: X509Svid;
  #current: X509Svid | undefined;
  #expiry: NodeJS.Timeout | undefined;
  #listener: HeldSvidListener | undefined;
  readonly #source: X509SvidSource;

  private constructor(source: X509SvidSource, first: X509Svid) {
    this.#source = source;
    this.first = first;
    this.#current = first;
    source.onChange((svid) => (svid ? this.#apply(svid) : this.#redact()));
  }

  /**
   * Opens the source (as X509SvidSource.open) for a holder that does nothing without an identity. Fails naming
   * `options.section`, and saying `withoutIdentity` (what the holder then does not do), when no SVID came in time, or
   * when the first was redacted at once: a first SVID and an empty response in one chunk are both handled before the
   * caller resumes. The source is stopped then.
   */
  static async open(options: X509SvidSourceOptions, withoutIdentity: string): Promise<HeldSvid> {
    const source = await X509SvidSource.open(options).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; ${withoutIdentity}`, { cause: err });
    });
    const first = source.current;
    if (!first) {
      source.stop();
      throw new Error(`${options.section}: the agent redacted the X.509-SVID as soon as it sent it; ${withoutIdentity}`);
    }
    return new HeldSvid(source, first);
  }

  /**
   * Sets what is told of each change after {@link first} (one listener: the holder). Set as soon as open() resolves,
   * in the same turn, so that nothing comes in between.
   */
  follow(listener: HeldSvidListener): void {
    this.#listener = listener;
    // Armed only now: an expiry must reach the holder, not a listener yet to come.
    if (this.#current) this.#expireAt(this.#current);
  }

  /** Whether there is an SVID to serve with at `now`: one not redacted, and not past its notAfter (peers would refuse it). */
  held(now: number = Date.now()): boolean {
    return this.#current !== undefined && now < this.#current.notAfter.getTime();
  }

  /** Whether a new SVID can still come: false once the agent refused the stream for good, which only a restart mends. */
  renewable(): boolean {
    return this.#source.stoppedBecause === undefined;
  }

  /** Stops following the source, whose stream closes once no other holder follows it. */
  close(): void {
    clearTimeout(this.#expiry);
    this.#source.stop();
  }

  #apply(svid: X509Svid): void {
    const previous = this.#current;
    this.#current = svid;
    this.#expireAt(svid);
    this.#listener?.applied(svid, previous);
  }

  #redact(): void {
    clearTimeout(this.#expiry);
    this.#current = undefined;
    this.#listener?.redacted();
  }

  /** Tells of `svid`'s expiry once it passes its notAfter, unless a new SVID comes first; in steps setTimeout can take. */
  #expireAt(svid: X509Svid): void {
    clearTimeout(this.#expiry);
    const left = svid.notAfter.getTime() - Date.now();
    if (left > 0) {
      this.#expiry = setTimeout(() => this.#expireAt(svid), Math.min(left, MAX_TIMER_MS)).unref();
      return;
    }
    this.#expiry = undefined;
    this.#listener?.expired?.(svid);
  }
}
