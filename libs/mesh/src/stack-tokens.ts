/**
 * What a service that only verifies this stack's access tokens for its own
 * API needs: the issuer's JWKS (fetched and cached by jose) and a read-only
 * copy of the revocations bucket, so a revoked token, or one exchanged from
 * a revoked token, is refused. Opening waits (the service stays unready)
 * until the issuer has made the bucket.
 */
import { VerifiedTokens, issuerEndpoint, remoteKeySet } from "@sts/jwt";
import type { NatsHandle, NatsLogger } from "@sts/nats";
import { JWKS_VERIFIER_CACHE_SECONDS } from "@sts/keys";
import { openRevocationReader } from "@sts/revocation";
import type { InboundOptions } from "./inbound.js";

/** Shortest time between two fetches of the issuer's JWKS, in ms (the gateway reuses a fetched JWKS for 5 s too). */
const JWKS_REFETCH_COOLDOWN_MS = 5_000;

/** Options of {@link openStackTokens}. */
export interface StackTokensOptions {
  /** The stack's issuer identifier; its JWKS is `<issuer>/oauth2/jwks`. */
  issuer: string;
  /** The audience a token must name: the API's. */
  audience: string;
  /** The config's `tokens` section (seconds and bytes). */
  tokens: { clock_tolerance: number; max_token_bytes: number; revocation_max_staleness: number };
  /** Seconds since epoch (a test clock). */
  now?: () => number;
  logger?: NatsLogger;
}

/** Verification options for one audience, and the means to stop watching revocations. */
export interface StackTokens {
  inbound: InboundOptions;
  stop(): void;
}

/** Opens the JWKS and the revocations for verifying the stack's access tokens addressed to one audience. */
export async function openStackTokens(nats: NatsHandle, o: StackTokensOptions): Promise<StackTokens> {
  const revocations = await openRevocationReader(nats, {
    maxStalenessMs: o.tokens.revocation_max_staleness * 1000,
    clockToleranceSeconds: o.tokens.clock_tolerance,
    ...(o.now && { now: o.now }),
    logger: o.logger,
  });
  return {
    inbound: {
      issuer: o.issuer,
      audience: o.audience,
      // jose caches the JWKS and refetches on an unknown kid, at most every 5 s: a key made to sign at once (the
      // successor of a withdrawn key) is refused here only until then plus the gateway's own 5 s reuse, and a flood of
      // tokens naming unknown kids costs the gateway one fetch per 5 s per verifier. A withdrawn key still in this copy
      // is refused by the revocations (isTokenRevoked), not by waiting for the copy to age.
      // The copy is kept JWKS_VERIFIER_CACHE_SECONDS, which a withdrawn key's kid record outlives (see there).
      keys: remoteKeySet(
        new URL(issuerEndpoint(o.issuer, "/oauth2/jwks")),
        { cooldownDuration: JWKS_REFETCH_COOLDOWN_MS, cacheMaxAge: JWKS_VERIFIER_CACHE_SECONDS * 1000 },
        "this stack's issuer",
      ),
      revocations,
      clockTolerance: o.tokens.clock_tolerance,
      maxBytes: o.tokens.max_token_bytes,
      now: o.now,
      verified: new VerifiedTokens(),
    },
    stop: () => revocations.stop(),
  };
}
