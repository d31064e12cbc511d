/**
 * Federation: the other issuers whose access tokens the exchanger accepts as
 * subject tokens, each with its own JWK Set, algorithms and `typ`. A token
 * is routed by its unverified `iss` to exactly one issuer's checks, and
 * those checks verify `iss` again; an issuer not listed here is refused.
 */
import { createRemoteJWKSet, errors } from "jose";
import type { JWTVerifyGetKey } from "jose";
import { foreignProfile } from "@sts/jwt";
import type { TokenProfile } from "@sts/jwt";

/** One trusted issuer as the config file declares it. */
export interface TrustedIssuerConfig {
  issuer: string;
  jwks_uri: string;
  algorithms: readonly string[];
  typ: readonly string[];
  claims: Readonly<Record<string, string>>;
}

/** How to verify one trusted issuer's tokens. */
export interface TrustedIssuer {
  issuer: string;
  keys: JWTVerifyGetKey;
  algorithms: readonly string[];
  profile: TokenProfile;
  /** Claims its access tokens carry with these exact values (what tells them from its ID tokens). */
  claims: Readonly<Record<string, string>>;
}

/** The issuer's key set could not be had (network, timeout, a bad response): our failure, not the token's. */
export class KeySourceUnavailable extends Error {}

/** jose errors that are the token's fault: its kid names no key, or more than one. */
const TOKEN_FAULTS = new Set([errors.JWKSNoMatchingKey.code, errors.JWKSMultipleMatchingKeys.code]);

/** Wraps a remote key set so an unreachable one is told apart from a token no key matches. */
function keysOf(jwksUri: string): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 3_000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      if (err instanceof errors.JOSEError && TOKEN_FAULTS.has(err.code)) throw err;
      throw new KeySourceUnavailable(`JWK Set of a trusted issuer unavailable: ${(err as Error).message}`, { cause: err });
    }
  };
}

/** The trusted issuers, by identifier. */
export class TrustedIssuers {
  readonly #byIssuer = new Map<string, TrustedIssuer>();

  constructor(list: readonly TrustedIssuerConfig[]) {
    for (const t of list) {
      this.#byIssuer.set(t.issuer, { issuer: t.issuer, keys: keysOf(t.jwks_uri), algorithms: t.algorithms, profile: foreignProfile(t.typ), claims: t.claims });
    }
  }

  /** Whether any issuer is trusted (none: every subject token must be ours, and nothing is decoded twice). */
  get empty(): boolean {
    return this.#byIssuer.size === 0;
  }

  /** How to verify a token claiming this issuer, or undefined when it is not trusted. */
  get(issuer: unknown): TrustedIssuer | undefined {
    return typeof issuer === "string" ? this.#byIssuer.get(issuer) : undefined;
  }
}
