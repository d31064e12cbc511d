export { SigningKeyRing, PublicKeyRing, KeyRingBusyError, SUCCESSOR_LOCK_SECONDS } from "./key-ring.js";
export type { KeyStore, Rotation, SigningKeyRingOptions, Withdrawal } from "./key-ring.js";
export {
  parseStoredKey,
  prepublishLeadSeconds,
  JWKS_MAX_AGE_SECONDS,
  JWKS_EDGE_CACHE_SECONDS,
  JWKS_EDGE_STALE_SECONDS,
  JWKS_VERIFIER_CACHE_SECONDS,
  KEY_STATES,
} from "./key-record.js";
export type { StoredKey, LifecyclePolicy, KeyState, KeyStatus } from "./key-record.js";
export { parseMasterKey } from "./master-key.js";
export { KID_SYNTAX, checkOwnerOnlyWrites } from "./key-file.js";
export { memoryKeyStore } from "./memory-key-store.js";
export type { SigningAlg } from "./generate.js";
