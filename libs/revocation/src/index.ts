export { RevocationList, parseRevocation } from "./revocation-list.js";
export type { RevocationRecord } from "./revocation-list.js";
