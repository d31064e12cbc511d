/**
 * Remembers tokens whose signature and claims were verified, so a token
 * presented again (a service making many calls for one inbound request) is
 * not verified again. Keyed by the exact token string: a malleated variant
 * of a signature (ES256 (r, n−s)) is a different string and is verified on
 * its own, and nothing here is ever keyed by jti, which a forger controls.
 * Revocation and expiry are still checked on every use by the caller, the
 * withdrawal of the key that signed it too (so the kid is kept with the
 * claims); an entry lives at most `maxAgeSeconds`, so a key removed from the
 * ring stops being trusted through this cache soon after. It is bounded by
 * entries and by an estimate of the memory they hold: tokens may be up to
 * `tokens.max_token_bytes` long, and 10,000 of 8 KiB with their claims would
 * hold about 160 MB.
 */
import type { AccessTokenClaims } from "./claims.js";

/** A token verified before: its claims and the kid of the key that signed it (from the protected header). */
export interface VerifiedToken {
  claims: AccessTokenClaims;
  kid: string | undefined;
}

/** Bytes an entry is charged: the token string (one byte per character), its decoded claims (about as large, as objects), and the entry itself. */
function entryBytes(token: string): number {
  return 2 * token.length + 200;
}

/** Default bound on the memory the entries hold, by `entryBytes`. */
export const VERIFIED_TOKENS_MAX_BYTES = 32 * 1024 * 1024;

/** A bounded cache of verified tokens. */
export class VerifiedTokens {
  readonly #entries = new Map<string, VerifiedToken & { until: number }>();
  #bytes = 0;

  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxAgeSeconds = 60,
    private readonly maxBytes = VERIFIED_TOKENS_MAX_BYTES,
  ) {}

  /** Bytes the entries are charged now (see `entryBytes`). */
  get bytes(): number {
    return this.#bytes;
  }

  #delete(token: string): void {
    if (this.#entries.delete(token)) this.#bytes -= entryBytes(token);
  }

  /** A token verified before and still within its cache life and exp. */
  get(token: string, now: number): VerifiedToken | undefined {
    const e = this.#entries.get(token);
    if (!e) return undefined;
    if (e.until <= now) {
      this.#delete(token);
      return undefined;
    }
    return e;
  }

  /** Remembers a verified token, and the kid that signed it, until min(exp, now + maxAge). */
  set(token: string, claims: AccessTokenClaims, now: number, kid?: string): void {
    const bytes = entryBytes(token);
    if (bytes > this.maxBytes) return;
    this.#delete(token);
    // Oldest first: Map keeps insertion order.
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size < this.maxEntries && this.#bytes + bytes <= this.maxBytes) break;
      this.#delete(oldest);
    }
    this.#entries.set(token, { claims, kid, until: Math.min(claims.exp, now + this.maxAgeSeconds) });
    this.#bytes += bytes;
  }
}
