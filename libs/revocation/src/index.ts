export { RevocationList, StalenessGuard, parseRevocation } from "./revocation-list.js";
export type { ConnectionStatus, RevocationRecord } from "./revocation-list.js";
