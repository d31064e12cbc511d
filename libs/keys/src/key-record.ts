/** The stored form of a signing key and the rules of its life cycle. */
import type { JWK } from "jose";
import type { SealedKey } from "./master-key.js";

/** A key as stored in the keys bucket (key `key.<kid>`). */
export interface StoredKey {
  kid: string;
  alg: string;
  /** Seconds since epoch. */
  created_at: number;
  /** From this time the key signs (after being published for a while). */
  activate_at: number;
  public_jwk: JWK;
  /** Absent for keys loaded from a JWK file (their private part never enters NATS) and for withdrawn keys (removed). */
  sealed?: SealedKey;
  /**
   * When an operator withdrew the key (seconds): it was compromised or is distrusted. From then it neither signs nor
   * verifies anything, whatever it signed before; the record stays, for the audit trail, until everything it could
   * have signed has expired.
   */
  withdrawn_at?: number;
  /** The operator's client id, with withdrawn_at. */
  withdrawn_by?: string;
  /** Why, in the operator's words, with withdrawn_at. */
  reason?: string;
  /**
   * The jti of the operator's access token that made the withdrawal, with withdrawn_at when known (the audit event
   * names the call whose write stood, not whichever of two racing calls published first).
   */
  withdrawn_jti?: string;
}

/** What an operator sees of a key: where it is in its life, never its private part. */
export const KEY_STATES = {
  /** Published so that verifiers learn it, not yet signing. */
  UPCOMING: "upcoming",
  /** The key new tokens are signed with. */
  SIGNING: "signing",
  /** No longer signing; published until the tokens it signed have expired. */
  VERIFYING: "verifying",
  /** Withdrawn by an operator: neither signs nor verifies. */
  WITHDRAWN: "withdrawn",
} as const;
/** One key state. */
export type KeyState = (typeof KEY_STATES)[keyof typeof KEY_STATES];

/** A key with its state at one time. */
export interface KeyStatus {
  key: StoredKey;
  state: KeyState;
}

/** Timing rules of the ring, in seconds. */
export interface LifecyclePolicy {
  /** Rotate when the signing key has signed this long. */
  rotateAfter: number;
  /** Longest lifetime of anything signed (tokens, ID tokens): old keys stay published this long. */
  maxTokenLifetime: number;
  /** Clock skew allowance added to the publication tail. */
  clockTolerance: number;
}

/**
 * Cache-Control max-age of the JWKS the gateway serves, in seconds: how long
 * a verifier may keep a copy that lacks the newest key.
 */
export const JWKS_MAX_AGE_SECONDS = 60;

/** How long the gateway reuses a JWKS fetched from the issuer, in seconds. */
export const JWKS_EDGE_CACHE_SECONDS = 5;

/**
 * How long past JWKS_EDGE_CACHE_SECONDS the gateway still serves the last JWKS it fetched when the issuer does not
 * answer, in seconds (RFC 5861's stale-if-error): a verifier then gets the keys it would have had, not a 503. A
 * withdrawn key may sit in such a copy this much longer, so its kid record outlives it too.
 */
export const JWKS_EDGE_STALE_SECONDS = 300;

/**
 * How long a verifier that fetches the JWKS over HTTP (sidecars, @sts/mesh, the policy and audit APIs: jose's
 * createRemoteJWKSet, whose default this is) keeps its copy, in seconds. A withdrawn key may sit in such a copy this
 * long, so its kid record must outlive it. Longer than the JWKS's max-age on purpose: a copy that outlives the
 * issuer's reach keeps verifying through a gateway outage instead of refusing every token.
 */
export const JWKS_VERIFIER_CACHE_SECONDS = 600;

/**
 * How long a new key is published before it signs, in seconds. A verifier
 * may fetch the JWKS just before the key appeared, get the gateway's cached
 * copy (up to JWKS_EDGE_CACHE_SECONDS old) and keep it for
 * JWKS_MAX_AGE_SECONDS; an issuer replica whose clock runs ahead by up to
 * the clock tolerance starts signing that much earlier. Any shorter and a
 * caching verifier refuses the first tokens of a new key.
 */
export function prepublishLeadSeconds(clockTolerance: number): number {
  return JWKS_EDGE_CACHE_SECONDS + JWKS_MAX_AGE_SECONDS + clockTolerance;
}

/** Parses an unknown KV value into a StoredKey, or undefined. */
export function parseStoredKey(raw: unknown): StoredKey | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.kid !== "string" || typeof r.alg !== "string") return undefined;
  if (typeof r.created_at !== "number" || typeof r.activate_at !== "number") return undefined;
  if (typeof r.public_jwk !== "object" || r.public_jwk === null) return undefined;
  if (r.withdrawn_at !== undefined) {
    // A withdrawal is all there or the record is refused: a half-read one must never pass for a key that still verifies.
    if (typeof r.withdrawn_at !== "number" || typeof r.withdrawn_by !== "string" || typeof r.reason !== "string") return undefined;
    if (r.withdrawn_jti !== undefined && typeof r.withdrawn_jti !== "string") return undefined;
  }
  return raw as StoredKey;
}

/** Whether an operator withdrew the key. */
export function isWithdrawn(key: StoredKey): boolean {
  return key.withdrawn_at !== undefined;
}

/** The keys still in service: every rule of the life cycle below looks at these only. */
function liveKeys(keys: readonly StoredKey[]): StoredKey[] {
  return keys.filter((k) => !isWithdrawn(k));
}

/**
 * Oldest activation first. In the same second a ring key comes after a key file's record (no sealed part): a ring on
 * the master key replaces a file key that signs with a key active at once, which must then be the newest.
 */
function byActivation(a: StoredKey, b: StoredKey): number {
  const sealedLast = Number(a.sealed !== undefined) - Number(b.sealed !== undefined);
  return a.activate_at - b.activate_at || sealedLast || a.created_at - b.created_at || (a.kid < b.kid ? -1 : 1);
}

/**
 * The key that signs now: the most recently activated one that is not withdrawn (before any is active, the first to
 * come). A withdrawn key never signs again, even when nothing else is left: signing then fails until a successor is
 * made (Withdraw makes one at once).
 */
export function signingKeyAt(keys: readonly StoredKey[], now: number): StoredKey | undefined {
  const live = liveKeys(keys);
  const active = live.filter((k) => k.activate_at <= now).sort(byActivation);
  return active[active.length - 1] ?? live.sort(byActivation)[0];
}

/**
 * Keys to publish: upcoming keys (so verifiers learn them before first use),
 * the signing key, and older keys until everything they signed has expired
 * (their successor's activation + the longest token lifetime + skew). A
 * withdrawn key is never published, and is no one's successor: a key whose
 * successor was withdrawn before it activated keeps signing, so stays published.
 */
export function publishedKeysAt(keys: readonly StoredKey[], now: number, policy: LifecyclePolicy): StoredKey[] {
  const sorted = liveKeys(keys).sort(byActivation);
  return sorted.filter((key, i) => {
    const successor = sorted[i + 1];
    if (!successor || successor.activate_at > now) return true;
    return now < successor.activate_at + policy.maxTokenLifetime + policy.clockTolerance;
  });
}

/**
 * Keys that may be deleted from the store: retired (no longer published), and withdrawn keys once everything they
 * could have signed has expired (withdrawal + the longest token lifetime + skew); until then a withdrawn record stays
 * listed, for the audit trail.
 */
export function retiredKeysAt(keys: readonly StoredKey[], now: number, policy: LifecyclePolicy): StoredKey[] {
  const published = new Set(publishedKeysAt(keys, now, policy).map((k) => k.kid));
  return keys.filter((k) => (k.withdrawn_at !== undefined ? now >= k.withdrawn_at + policy.maxTokenLifetime + policy.clockTolerance : !published.has(k.kid)));
}

/** Whether the signing key is due for rotation and no successor is waiting (a withdrawn upcoming key is none). */
export function rotationDue(keys: readonly StoredKey[], now: number, policy: LifecyclePolicy): boolean {
  const signing = signingKeyAt(keys, now);
  if (!signing) return true;
  if (!signing.sealed) return false; // file-provided key: rotated by its operator
  return upcomingKeyAt(keys, now) === undefined && now >= signing.activate_at + policy.rotateAfter;
}

/** The key in service activating last (upcoming or signing), if any: the one with no successor. */
export function latestKey(keys: readonly StoredKey[]): StoredKey | undefined {
  return liveKeys(keys).sort(byActivation).at(-1);
}

/** The next key to sign, published and waiting for its activation, if there is one (never a withdrawn one). */
export function upcomingKeyAt(keys: readonly StoredKey[], now: number): StoredKey | undefined {
  return liveKeys(keys)
    .filter((k) => k.activate_at > now)
    .sort(byActivation)[0];
}

/**
 * Every key an operator should see, oldest first, with its state: the published ones and the withdrawn ones still
 * on record. A retired key (no longer published, deleted at the ring's next maintenance) is left out. `signing` names
 * the key that signs when the ring knows better than the order of activations (its key file's key).
 */
export function keyStatusesAt(keys: readonly StoredKey[], now: number, policy: LifecyclePolicy, signing = signingKeyAt(keys, now)?.kid): KeyStatus[] {
  const retired = new Set(retiredKeysAt(keys, now, policy).map((k) => k.kid));
  if (signing !== undefined) retired.delete(signing);
  const stateOf = (k: StoredKey): KeyState =>
    isWithdrawn(k) ? KEY_STATES.WITHDRAWN : k.kid === signing ? KEY_STATES.SIGNING : k.activate_at > now ? KEY_STATES.UPCOMING : KEY_STATES.VERIFYING;
  return keys
    .filter((k) => !retired.has(k.kid))
    .sort(byActivation)
    .map((key) => ({ key, state: stateOf(key) }));
}
