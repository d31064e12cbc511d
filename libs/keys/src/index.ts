export { SigningKeyRing, PublicKeyRing, KeyRingBusyError, jwksOf, keyName, SUCCESSOR_LOCK_SECONDS } from "./key-ring.js";
export type { KeyStore, Rotation, SigningKeyRingOptions, Withdrawal } from "./key-ring.js";
export {
  parseStoredKey,
  isWithdrawn,
  keyStatusesAt,
  signingKeyAt,
  upcomingKeyAt,
  publishedKeysAt,
  retiredKeysAt,
  rotationDue,
  prepublishLeadSeconds,
  JWKS_MAX_AGE_SECONDS,
  JWKS_EDGE_CACHE_SECONDS,
  JWKS_VERIFIER_CACHE_SECONDS,
  KEY_STATES,
} from "./key-record.js";
export type { StoredKey, LifecyclePolicy, KeyState, KeyStatus } from "./key-record.js";
export { parseMasterKey, sealPrivateJwk, openPrivateJwk } from "./master-key.js";
export type { SealedKey } from "./master-key.js";
export { generateSigningJwks, SIGNING_ALGS } from "./generate.js";
export type { SigningAlg } from "./generate.js";
