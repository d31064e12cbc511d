export { RevocationList, StalenessGuard, parseRevocation } from "./revocation-list.js";
export type { ConnectionStatus, RevocationLookup, RevocationRecord } from "./revocation-list.js";
export { RevocationCache, DEFAULT_RELOAD_INTERVAL_MS } from "./revocation-cache.js";
export type { RevocationCacheOptions } from "./revocation-cache.js";
