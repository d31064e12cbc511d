/**
 * Remembers tokens whose signature and claims were verified, so a token
 * presented again (a service making many calls for one inbound request) is
 * not verified again. Keyed by the exact token string: a malleated variant
 * of a signature (ES256 (r, n−s)) is a different string and is verified on
 * its own, and nothing here is ever keyed by jti, which a forger controls.
 * Revocation and expiry are still checked on every use by the caller; an
 * entry lives at most `maxAgeSeconds`, so a key removed from the ring stops
 * being trusted through this cache soon after.
 */
import type { AccessTokenClaims } from "./claims.js";

/** A bounded cache of verified tokens. */
export class VerifiedTokens {
  readonly #entries = new Map<string, { claims: AccessTokenClaims; until: number }>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxAgeSeconds = 60,
  ) {}

  /** Claims of a token verified before and still within its cache life and exp. */
  get(token: string, now: number): AccessTokenClaims | undefined {
    const e = this.#entries.get(token);
    if (!e) return undefined;
    if (e.until <= now) {
      this.#entries.delete(token);
      return undefined;
    }
    return e.claims;
  }

  /** Remembers a verified token until min(exp, now + maxAge). */
  set(token: string, claims: AccessTokenClaims, now: number): void {
    if (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(token, { claims, until: Math.min(claims.exp, now + this.maxAgeSeconds) });
  }
}
