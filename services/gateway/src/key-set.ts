/**
 * The issuer's published key set as the gateway serves it (the JWKS, and the algorithms the metadata names): kept a
 * short time, and fetched once however many requests want it meanwhile. The JWKS and discovery documents are public,
 * so anyone can ask for them at any rate: a fetch per request would hand the issuer a call for each, and while the
 * issuer hangs, leave one waiting out its deadline for each.
 */

/** A cached key set with at most one fetch under way. */
export class KeySetCache {
  #body: string | undefined;
  #until = 0;
  #fetching: Promise<string> | undefined;

  /**
   * @param fetch asks the issuer for its key set (JSON).
   * @param maxAgeMs how long a fetched key set is served before it is fetched again.
   * @param staleMs how long past maxAge the last one is still served when a fetch fails (0: never).
   * @param now the clock, in ms.
   */
  constructor(
    private readonly fetch: () => Promise<string>,
    private readonly maxAgeMs: number,
    private readonly staleMs = 0,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The key set as {@link current} gives it; when that fetch fails, the last one fetched while it is at most staleMs
   * past its age (`stale`), else the failure. Only a failed fetch is answered so: a slow one is waited for, since a new
   * key is published only JWKS_EDGE_CACHE_SECONDS ahead of what this copy may lack.
   */
  async currentOrStale(): Promise<{ body: string; stale: boolean }> {
    try {
      return { body: await this.current(), stale: false };
    } catch (err) {
      if (this.#body === undefined || this.now() > this.#until + this.staleMs) throw err;
      return { body: this.#body, stale: true };
    }
  }

  /** The key set, fetched again once older than maxAge; callers that find it stale meanwhile share that one fetch. */
  current(): Promise<string> {
    if (this.#body !== undefined && this.#until >= this.now()) return Promise.resolve(this.#body);
    this.#fetching ??= this.fetch().then(
      (body) => {
        this.#body = body;
        this.#until = this.now() + this.maxAgeMs;
        this.#fetching = undefined;
        return body;
      },
      (err: unknown) => {
        this.#fetching = undefined;
        throw err;
      },
    );
    return this.#fetching;
  }

  /** The last key set fetched, however old; undefined before the first. */
  get last(): string | undefined {
    return this.#body;
  }
}
