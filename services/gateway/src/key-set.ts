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
   * The key set as {@link current} gives it; when that fetch fails, or has not answered within `waitMs` (an issuer that
   * hangs holds a fetch for its whole deadline, longer than a verifier waits for a JWKS), the last one fetched while it
   * is at most staleMs past its age (`stale`), else the failure. A fetch left waiting goes on, and its key set is served
   * from then on.
   */
  async currentOrStale(waitMs: number): Promise<{ body: string; stale: boolean }> {
    const fetching = this.current();
    const last = this.#body;
    if (last === undefined || this.now() > this.#until + this.staleMs) return { body: await fetching, stale: false };
    // Answered from the copy below if need be: the fetch goes on, and a failure of it is no one's to catch then.
    fetching.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    try {
      const body = await Promise.race([fetching, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), waitMs)))]);
      return body === undefined ? { body: last, stale: true } : { body, stale: false };
    } catch {
      return { body: last, stale: true };
    } finally {
      clearTimeout(timer);
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
