export { SigningKeyRing, PublicKeyRing, jwksOf, keyName, SUCCESSOR_LOCK_SECONDS } from "./key-ring.js";
export type { KeyStore, SigningKeyRingOptions } from "./key-ring.js";
export {
  parseStoredKey,
  signingKeyAt,
  publishedKeysAt,
  retiredKeysAt,
  rotationDue,
  prepublishLeadSeconds,
  JWKS_MAX_AGE_SECONDS,
  JWKS_EDGE_CACHE_SECONDS,
} from "./key-record.js";
export type { StoredKey, LifecyclePolicy } from "./key-record.js";
export { parseMasterKey, sealPrivateJwk, openPrivateJwk } from "./master-key.js";
export type { SealedKey } from "./master-key.js";
export { generateSigningJwks, SIGNING_ALGS } from "./generate.js";
export type { SigningAlg } from "./generate.js";
