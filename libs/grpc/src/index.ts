export { unary, serverStream } from "./adapter.js";
export type { CallContext, AdapterOptions } from "./adapter.js";
export { startGrpcServer, onShutdownSignal, DEFAULT_MAX_RECEIVE_BYTES } from "./server.js";
export type { GrpcServerOptions, GrpcServerHandle } from "./server.js";
export { createClient, callUnary, checkHealth, DEFAULT_DEADLINE_MS } from "./client.js";
export type { CallOptions } from "./client.js";
export { errorFromServiceError, statusFromOAuthError, ERROR_METADATA } from "./error-mapping.js";
