export { loadConfig, parseConfig, ConfigError, ENV_OVERRIDES } from "./load.js";
export {
  configSchema,
  clientSchema,
  hopSchema,
  SIGNING_ALGORITHMS,
  ASSERTION_ALGORITHMS,
  AUTH_METHODS,
  GRANT_TYPES,
  DEFAULT_MAX_MANAGED_CLIENTS,
  MIN_CLIENT_SECRET_CHARS,
} from "./schema.js";
export type { StsConfig, ClientConfig, HopConfig, NatsConfig } from "./schema.js";
export { parseDurationSeconds } from "./duration.js";
export { SPIFFE_ENDPOINT_SOCKET, resolveWorkloadApiSocket, workloadApiSocketProblem } from "./spiffe-endpoint.js";
export { rotatingFile, secretReader } from "./secret-source.js";
export type { SecretSource, StaleCopyListener } from "./secret-source.js";
export { serviceClock } from "./clock.js";
export { breakGlassSecret, isPresentableCredential } from "./break-glass.js";
export type { ServiceClock } from "./clock.js";
export { DEFAULT_MAX_HEADER_BYTES, maxBodyBytesFor, maxHeaderBytesFor } from "./limits.js";
