export { ExchangeCache } from "./exchange-cache.js";
export type { ExchangeCacheOptions, ExchangedToken, IsRevoked, TokenForOptions } from "./exchange-cache.js";
export { verifyInbound, bearerToken } from "./inbound.js";
export type { InboundOptions, VerifiedCaller } from "./inbound.js";
export { meshServerInterceptor, meshClientInterceptor, meshFetch, MESH_METADATA } from "./grpc-interceptors.js";
export type { OutboundRoute } from "./grpc-interceptors.js";
export { isOriginForm, urlOnOrigin } from "./upstream-url.js";
export { MESH_HEADERS, callerHeaders, headerSafe, peerHeaders } from "./caller-headers.js";
