/**
 * Federation: the other issuers whose access tokens the exchanger accepts as
 * subject tokens, each with its own JWK Set, algorithms and `typ`. A token
 * is routed by its unverified `iss` to exactly one issuer's checks, and
 * those checks verify `iss` again; an issuer not listed here is refused.
 * An issuer configured with `introspection` is also asked, once its token
 * passed those checks, whether it still holds the token active (RFC 7662).
 */
import type { JWTVerifyGetKey } from "jose";
import { foreignProfile, remoteKeySet } from "@sts/jwt";
import type { TokenProfile } from "@sts/jwt";
import { secretReader } from "@sts/config";
import type { SecretSource } from "@sts/config";
import { ProviderIntrospection } from "./provider-introspection.js";
import type { BreakerState } from "./provider-introspection.js";

/** One trusted issuer as the config file declares it. */
export interface TrustedIssuerConfig {
  issuer: string;
  jwks_uri: string;
  algorithms: readonly string[];
  typ: readonly string[];
  claims: Readonly<Record<string, string>>;
  /** Its RFC 7662 endpoint, with the client secret resolved to where it is read from. */
  introspection?: TrustedIntrospectionConfig;
  /** OpenID Connect Back-Channel Logout: the `aud` of its logout tokens. */
  backchannel_logout?: { audience: string };
}

/** A trusted issuer's `introspection` settings, its secret as a value (from the environment) or a file. */
export interface TrustedIntrospectionConfig {
  endpoint: string;
  client_id: string;
  client_secret: SecretSource;
  cache_ttl: number;
  timeout_ms: number;
}

/** Options shared by every trusted issuer. */
export interface TrustedIssuersOptions {
  /** Milliseconds since epoch, on the exchanger's clock. */
  nowMs?: () => number;
  /** Told when an issuer's introspection breaker changes state. */
  onBreaker?: (issuer: string, state: BreakerState) => void;
}

/** How to verify one trusted issuer's tokens. */
export interface TrustedIssuer {
  issuer: string;
  keys: JWTVerifyGetKey;
  algorithms: readonly string[];
  profile: TokenProfile;
  /** Claims its access tokens carry with these exact values (what tells them from its ID tokens). */
  claims: Readonly<Record<string, string>>;
  /** Asked whether a token that passed every local check is still active there; absent when not configured. */
  introspection?: ProviderIntrospection;
  /** The `aud` its logout tokens must carry; absent: it may not sign users out here. */
  logoutAudience?: string;
}

/**
 * A trusted issuer's key set: an unreachable one is told apart from a token no key matches (KeySourceUnavailable), and
 * so is one larger than any key set (remoteKeySet never reads it past its bound).
 */
const keysOf = (jwksUri: string): JWTVerifyGetKey =>
  remoteKeySet(new URL(jwksUri), { timeoutDuration: 3_000, cooldownDuration: 30_000, cacheMaxAge: 600_000 }, "a trusted issuer");

/** The introspection of one issuer; a secret that cannot be read stops the start, naming the setting. */
function introspectionOf(issuer: string, c: TrustedIntrospectionConfig, path: string, options: TrustedIssuersOptions): ProviderIntrospection {
  const clientSecret = secretReader(c.client_secret, `${path}.client_secret`);
  return new ProviderIntrospection({
    issuer,
    endpoint: { url: c.endpoint, clientId: c.client_id, clientSecret, timeoutMs: c.timeout_ms },
    cacheTtlSeconds: c.cache_ttl,
    ...(options.nowMs && { nowMs: options.nowMs }),
    ...(options.onBreaker && { onBreaker: (state: BreakerState) => options.onBreaker?.(issuer, state) }),
  });
}

/** The trusted issuers, by identifier. */
export class TrustedIssuers {
  readonly #byIssuer = new Map<string, TrustedIssuer>();

  constructor(list: readonly TrustedIssuerConfig[], options: TrustedIssuersOptions = {}) {
    list.forEach((t, i) => {
      const introspection = t.introspection && introspectionOf(t.issuer, t.introspection, `exchange.trusted_issuers[${i}].introspection`, options);
      this.#byIssuer.set(t.issuer, {
        issuer: t.issuer,
        keys: keysOf(t.jwks_uri),
        algorithms: t.algorithms,
        profile: foreignProfile(t.typ),
        claims: t.claims,
        ...(introspection && { introspection }),
        ...(t.backchannel_logout && { logoutAudience: t.backchannel_logout.audience }),
      });
    });
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
