/**
 * Whether a trusted issuer still holds one of its tokens active, asked at its
 * RFC 7662 endpoint after the token passed every local check. Answers are
 * remembered under a SHA-256 digest of the exact token string (the token
 * itself is never a key, so a heap dump or a debug print of the cache holds
 * none): an `active` one for `cache_ttl` at most, which bounds how long a
 * revocation there goes unseen here; an `inactive` one for a minute (or
 * `cache_ttl` when longer), never past the token's expiry: RFC 7662 also
 * answers inactive for a token the provider does not know yet (replication
 * lag just after issuing), which must not be refused for its whole
 * lifetime, while a burst of retries with a revoked token still costs one
 * call a minute. A malleated variant of
 * the signature is another string and is asked about on its own: the
 * provider, not this cache, decides. Concurrent checks of one token share one
 * call. No answer (an outage, a malformed reply) is never remembered and never
 * reads as active: the caller fails closed.
 *
 * An endpoint that keeps failing is not asked again for every exchange: a
 * circuit breaker (opossum) opens when most of the last calls failed, and
 * while it is open exchanges needing an answer fail closed at once instead of
 * each waiting out the timeout and piling onto a provider that is down. After
 * a pause one call probes the endpoint; an answer closes the breaker.
 * Remembered answers are still used while it is open.
 */
import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import CircuitBreaker from "opossum";
import { resultCounter } from "@sts/telemetry";
import { IntrospectionUnavailable, introspectToken } from "./introspection-request.js";
import type { IntrospectionAnswer, IntrospectionEndpoint } from "./introspection-request.js";

/**
 * The provider's verdict: `active`; `inactive` (revoked, expired or unknown
 * there); or `mismatch`, an active answer about another token (its `iss`,
 * `sub`, `client_id`, `jti`, `exp` or `aud` differs from the verified
 * token's), treated as inactive.
 */
export type IntrospectionVerdict = "active" | "inactive" | "mismatch";

/** The verified claims an answer must agree with. */
export interface IntrospectedToken {
  iss: string;
  sub: string;
  /** The token's client (`client_id`, else `azp`); empty when it names none. */
  client_id: string;
  jti: string;
  /** Seconds since epoch. */
  exp: number;
  aud: string | readonly string[];
}

/** Options of {@link ProviderIntrospection}. */
export interface ProviderIntrospectionOptions {
  /** The provider's issuer identifier, for error messages. */
  issuer: string;
  endpoint: IntrospectionEndpoint;
  /** Seconds an active answer is reused (0: never). */
  cacheTtlSeconds: number;
  maxEntries?: number;
  /** Milliseconds since epoch, on the exchanger's clock (the one `exp` is compared against). */
  nowMs?: () => number;
  /** When the breaker opens, probes, or closes again (for the logs). */
  onBreaker?: (state: BreakerState) => void;
  /** Milliseconds the breaker stays open before one call probes the endpoint; default 5 s. */
  breakerPauseMs?: number;
}

/** The breaker's states: closed (every call made), open (none), half_open (one probe in flight). */
export type BreakerState = "open" | "half_open" | "closed";

/** The breaker opens when more than half of at least this many calls within the window failed. */
const BREAKER_MIN_CALLS = 5;
const BREAKER_WINDOW_MS = 10_000;
const BREAKER_BUCKETS = 10;
const DEFAULT_BREAKER_PAUSE_MS = 5_000;

/** Remembered answers beyond this are dropped least recently used first; a dropped one is only asked again. */
const DEFAULT_MAX_ENTRIES = 10_000;

/** Shortest time an inactive answer is remembered (cache_ttl when longer). */
const MIN_NEGATIVE_CACHE_MS = 60_000;

type Result = IntrospectionVerdict | "error" | "cached" | "joined" | "not_asked";

const RESULTS: readonly Result[] = ["active", "inactive", "mismatch", "error", "cached", "joined", "not_asked"];
const COUNTER_DESCRIPTION =
  "Trusted issuers' tokens checked at their introspection endpoint, by issuer and result: active, inactive, mismatch (an answer about another token, refused), " +
  "error (no usable answer: the exchange failed closed), cached (a remembered answer), joined (waited on the same call in flight) " +
  "or not_asked (the endpoint kept failing and its circuit breaker was open: the exchange failed closed without a call)";

/** No call was made: the breaker is open. An outage like any other to the caller (it fails closed). */
class BreakerOpen extends IntrospectionUnavailable {}

/** Whether an answer's `aud` (a string or a list of strings, RFC 7662 §2.2) names exactly the token's audiences. */
function sameAudiences(answered: unknown, aud: string | readonly string[]): boolean {
  const theirs = typeof answered === "string" ? [answered] : answered;
  if (!Array.isArray(theirs) || !theirs.every((a) => typeof a === "string")) return false;
  const ours = new Set(typeof aud === "string" ? [aud] : aud);
  const named = new Set<string>(theirs);
  return named.size === ours.size && [...named].every((a) => ours.has(a));
}

/**
 * RFC 7662 §2.2 members that name the token, compared when the answer has them. `iss`, `sub` and `client_id` alone
 * fit every token of one user at one client: an answer about another of them (another session's, one that expires
 * later or is for another audience; a cache or proxy in front of the endpoint mixing answers up) would vouch for this
 * token, and be remembered for it. Its `jti`, `exp` and `aud` say which token it is.
 */
export function verdictOf(answer: IntrospectionAnswer, token: IntrospectedToken): IntrospectionVerdict {
  if (!answer.active) return "inactive";
  if (answer.iss !== undefined && answer.iss !== token.iss) return "mismatch";
  if (answer.sub !== undefined && answer.sub !== token.sub) return "mismatch";
  // A token that names no client of its own gives nothing to compare the answer's client_id with.
  if (answer.client_id !== undefined && token.client_id !== "" && answer.client_id !== token.client_id) return "mismatch";
  if (answer.jti !== undefined && answer.jti !== token.jti) return "mismatch";
  // An answer about this token states its exp; another one (earlier: the provider holds it expired sooner) is not ours.
  if (answer.exp !== undefined && answer.exp !== token.exp) return "mismatch";
  if (answer.aud !== undefined && !sameAudiences(answer.aud, token.aud)) return "mismatch";
  return "active";
}

/** One trusted issuer's introspection endpoint, with its answers cached and its calls shared. */
export class ProviderIntrospection {
  readonly #o: Required<ProviderIntrospectionOptions>;
  readonly #entries = new Map<string, { verdict: IntrospectionVerdict; untilMs: number }>();
  readonly #inflight = new Map<string, Promise<IntrospectionVerdict>>();
  readonly #count: (result: Result) => void;
  readonly #breaker: CircuitBreaker<[string, IntrospectedToken], IntrospectionVerdict>;

  constructor(options: ProviderIntrospectionOptions) {
    this.#o = { maxEntries: DEFAULT_MAX_ENTRIES, nowMs: Date.now, onBreaker: () => undefined, breakerPauseMs: DEFAULT_BREAKER_PAUSE_MS, ...options };
    // Configured issuers only (a handful): a bounded label set.
    this.#count = resultCounter("@sts/exchanger", "sts.federation.introspections", COUNTER_DESCRIPTION, RESULTS, { "sts.issuer": options.issuer });
    // The window's buckets turn on our signal, not opossum's timer, so closing can empty the window (below).
    const window = new EventEmitter();
    const turn = setInterval(() => window.emit("rotate"), BREAKER_WINDOW_MS / BREAKER_BUCKETS);
    turn.unref();
    this.#breaker = new CircuitBreaker((token: string, claims: IntrospectedToken) => this.#ask(token, claims), {
      // introspectToken has its own deadline (timeout_ms), which aborts the request; the breaker's would leave it running.
      timeout: false,
      volumeThreshold: BREAKER_MIN_CALLS,
      errorThresholdPercentage: 50,
      rollingCountTimeout: BREAKER_WINDOW_MS,
      rollingCountBuckets: BREAKER_BUCKETS,
      rotateBucketController: window,
      resetTimeout: this.#o.breakerPauseMs,
      enableSnapshots: false,
      // Latency percentiles are not used here: without this, every call sorts the window's latencies.
      rollingPercentilesEnabled: false,
    });
    this.#breaker.on("open", () => this.#o.onBreaker("open"));
    this.#breaker.on("halfOpen", () => this.#o.onBreaker("half_open"));
    this.#breaker.on("close", () => {
      // opossum keeps the failures that opened it: one more failure soon after the probe would reopen it. A closed
      // breaker judges the endpoint by the calls made since.
      for (let i = 0; i < BREAKER_BUCKETS; i++) window.emit("rotate");
      this.#o.onBreaker("closed");
    });
  }

  /** The provider's verdict on a token that passed every local check; rejects with IntrospectionUnavailable when there is none. */
  check(token: string, claims: IntrospectedToken): Promise<IntrospectionVerdict> {
    const key = createHash("sha256").update(token).digest("base64url");
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      if (hit.untilMs > this.#o.nowMs()) {
        // Put back last: the map's order is then least recently used first.
        this.#entries.set(key, hit);
        this.#count("cached");
        return Promise.resolve(hit.verdict);
      }
    }
    const inflight = this.#inflight.get(key);
    if (inflight) {
      this.#count("joined");
      return inflight;
    }
    const asked = this.#askThroughBreaker(token, claims)
      .then((verdict) => {
        this.#remember(key, verdict, claims.exp);
        this.#count(verdict);
        return verdict;
      })
      .catch((err: unknown) => {
        this.#count(err instanceof BreakerOpen ? "not_asked" : "error");
        throw err;
      })
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, asked);
    return asked;
  }

  async #askThroughBreaker(token: string, claims: IntrospectedToken): Promise<IntrospectionVerdict> {
    try {
      return await this.#breaker.fire(token, claims);
    } catch (err) {
      if (err instanceof Error && CircuitBreaker.isOurError(err)) {
        throw new BreakerOpen(`${this.#o.issuer}: its introspection endpoint kept failing; not asked again for ${this.#o.breakerPauseMs / 1000} s`);
      }
      throw err;
    }
  }

  async #ask(token: string, claims: IntrospectedToken): Promise<IntrospectionVerdict> {
    try {
      return verdictOf(await introspectToken(token, this.#o.endpoint), claims);
    } catch (err) {
      const reason = err instanceof IntrospectionUnavailable ? err.message : "introspection failed";
      throw new IntrospectionUnavailable(`${this.#o.issuer}: ${reason}`, { cause: err });
    }
  }

  #remember(key: string, verdict: IntrospectionVerdict, exp: number): void {
    const expMs = exp * 1000;
    const ttlMs = this.#o.cacheTtlSeconds * 1000;
    const forMs = verdict === "active" ? ttlMs : Math.max(ttlMs, MIN_NEGATIVE_CACHE_MS);
    const untilMs = Math.min(this.#o.nowMs() + forMs, expMs);
    if (untilMs <= this.#o.nowMs() || this.#o.maxEntries <= 0) return;
    if (this.#entries.size >= this.#o.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, { verdict, untilMs });
  }

  /** The breaker's state. */
  get breakerState(): BreakerState {
    return this.#breaker.opened ? "open" : this.#breaker.halfOpen ? "half_open" : "closed";
  }

  /** Number of remembered answers. */
  get size(): number {
    return this.#entries.size;
  }
}
