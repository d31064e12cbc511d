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
  /** Absent for keys loaded from a JWK file: their private part never enters NATS. */
  sealed?: SealedKey;
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
  return raw as StoredKey;
}

function byActivation(a: StoredKey, b: StoredKey): number {
  return a.activate_at - b.activate_at || a.created_at - b.created_at || (a.kid < b.kid ? -1 : 1);
}

/** The key that signs now: the most recently activated one. */
export function signingKeyAt(keys: readonly StoredKey[], now: number): StoredKey | undefined {
  const active = keys.filter((k) => k.activate_at <= now).sort(byActivation);
  return active[active.length - 1] ?? [...keys].sort(byActivation)[0];
}

/**
 * Keys to publish: upcoming keys (so verifiers learn them before first use),
 * the signing key, and older keys until everything they signed has expired
 * (their successor's activation + the longest token lifetime + skew).
 */
export function publishedKeysAt(keys: readonly StoredKey[], now: number, policy: LifecyclePolicy): StoredKey[] {
  const sorted = [...keys].sort(byActivation);
  return sorted.filter((key, i) => {
    const successor = sorted[i + 1];
    if (!successor || successor.activate_at > now) return true;
    return now < successor.activate_at + policy.maxTokenLifetime + policy.clockTolerance;
  });
}

/** Keys that may be deleted from the store: retired and no longer published. */
export function retiredKeysAt(keys: readonly StoredKey[], now: number, policy: LifecyclePolicy): StoredKey[] {
  const published = new Set(publishedKeysAt(keys, now, policy).map((k) => k.kid));
  return keys.filter((k) => !published.has(k.kid));
}

/** Whether the signing key is due for rotation and no successor is waiting. */
export function rotationDue(keys: readonly StoredKey[], now: number, policy: LifecyclePolicy): boolean {
  const signing = signingKeyAt(keys, now);
  if (!signing) return true;
  if (!signing.sealed) return false; // file-provided key: rotated by its operator
  const upcoming = keys.some((k) => k.activate_at > now);
  return !upcoming && now >= signing.activate_at + policy.rotateAfter;
}
