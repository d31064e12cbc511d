/**
 * Remembers tokens whose signature and claims were verified, so a token
 * presented again (a service making many calls for one inbound request) is
 * not verified again. Keyed by the exact token string: a malleated variant
 * of a signature (ES256 (r, n−s)) is a different string and is verified on
 * its own, and nothing here is ever keyed by jti, which a forger controls.
 * Revocation and expiry are still checked on every use by the caller, the
 * withdrawal of the key that signed it too (so the kid is kept with the
 * claims); an entry lives at most `maxAgeSeconds`, so a key removed from the
 * ring stops being trusted through this cache soon after.
 */
import type { AccessTokenClaims } from "./claims.js";

/** A token verified before: its claims and the kid of the key that signed it (from the protected header). */
export interface VerifiedToken {
  claims: AccessTokenClaims;
  kid: string | undefined;
}

/** A bounded cache of verified tokens. */
export class VerifiedTokens {
  readonly #entries = new Map<string, VerifiedToken & { until: number }>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxAgeSeconds = 60,
  ) {}

  /** A token verified before and still within its cache life and exp. */
  get(token: string, now: number): VerifiedToken | undefined {
    const e = this.#entries.get(token);
    if (!e) return undefined;
    if (e.until <= now) {
      this.#entries.delete(token);
      return undefined;
    }
    return e;
  }

  /** Remembers a verified token, and the kid that signed it, until min(exp, now + maxAge). */
  set(token: string, claims: AccessTokenClaims, now: number, kid?: string): void {
    if (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(token, { claims, kid, until: Math.min(claims.exp, now + this.maxAgeSeconds) });
  }
}
