/**
 * The revocations as a service that only verifies sees them: bound to the
 * issuer's bucket (a reader creates nothing and imposes no setting, so its
 * NATS user needs no right to write it), held in a watch-fed copy that
 * forgets what the bucket's max_age removed, and trusted only for a bounded
 * time while NATS is unreachable (SECURITY.md: then fail closed).
 */
import { BUCKETS, openBucket } from "@sts/nats";
import type { NatsHandle, NatsLogger } from "@sts/nats";
import { RevocationCache } from "./revocation-cache.js";
import { RevocationList, StalenessGuard } from "./revocation-list.js";
import type { RevocationLookup } from "./revocation-list.js";

/** A read-only revocation check (the state `isTokenRevoked` of @sts/jwt reads) and the means to stop watching. */
export interface RevocationReader {
  /** Whether a token id is revoked; throws temporarily_unavailable once the copy may be older than allowed. */
  isRevoked(jti: string): boolean;
  /** When the subject was revoked, if it was; throws as isRevoked does. */
  subjectRevokedAt(iss: string, sub: string): number | undefined;
  /** Whether the issuer's signing key was withdrawn; throws as isRevoked does. */
  isKeyWithdrawn(iss: string, kid: string): boolean;
  /** Checks the copy's age once (throwing as isRevoked does) and returns lookups that do not check again. */
  checked(): RevocationLookup;
  /** Stops watching the bucket and the connection (every listener it added to the handle is removed). */
  stop(): void;
}

/** Options of {@link openRevocationReader}. */
export interface RevocationReaderOptions {
  /** How long the copy is trusted while cut off from NATS (config `tokens.revocation_max_staleness`), in ms. */
  maxStalenessMs: number;
  /** The verifiers' clock tolerance (config `tokens.clock_tolerance`), in seconds: how long past its exp a record still matters. */
  clockToleranceSeconds: number;
  /** Seconds since epoch, on the verifier's clock (a test clock). */
  now?: () => number;
  logger?: NatsLogger;
}

/**
 * Binds to the revocations bucket, waiting (unready) until its owner has made
 * it, and resolves once the revocations it holds are loaded.
 */
export async function openRevocationReader(nats: NatsHandle, options: RevocationReaderOptions): Promise<RevocationReader> {
  const { logger } = options;
  const kv = await openBucket(nats, BUCKETS.revocations, { bind: true, waitForOwner: true, logger });
  const cache = new RevocationCache(kv, { logger, clockToleranceSeconds: options.clockToleranceSeconds, ...(options.now && { now: options.now }) });
  await cache.ready();
  const guard = new StalenessGuard(nats, options.maxStalenessMs);
  const list = new RevocationList(kv, cache, guard);
  return {
    isRevoked: (jti) => list.isRevoked(jti),
    subjectRevokedAt: (iss, sub) => list.subjectRevokedAt(iss, sub),
    isKeyWithdrawn: (iss, kid) => list.isKeyWithdrawn(iss, kid),
    checked: () => list.checked(),
    stop: () => {
      cache.stop();
      guard.stop();
    },
  };
}
