export { ExchangeCache } from "./exchange-cache.js";
export type { ExchangeCacheOptions, ExchangedToken } from "./exchange-cache.js";
export { verifyInbound, bearerToken } from "./inbound.js";
export type { InboundOptions, VerifiedCaller } from "./inbound.js";
