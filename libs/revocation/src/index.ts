export { RevocationList, StalenessGuard, UNREADABLE_WITHDRAWAL_BY, keyWithdrawalKey } from "./revocation-list.js";
export type { CopyFreshness } from "./revocation-list.js";
export type {
  ConnectionStatus,
  KeyWithdrawalRecord,
  RevocationLookup,
  RevocationRecord,
  StoredRevocation,
  StoredSubjectRevocation,
  SubjectRevocationRecord,
  WriteFollower,
} from "./revocation-list.js";
export { RevocationCache } from "./revocation-cache.js";
export type { RevocationCacheOptions } from "./revocation-cache.js";
export { openRevocationReader } from "./revocation-reader.js";
export type { RevocationReader, RevocationReaderOptions } from "./revocation-reader.js";
