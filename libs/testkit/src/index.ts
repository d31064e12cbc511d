export { freePort, waitFor, httpReady, tcpOpen } from "./ports.js";
export { grpcHealthy } from "./grpc-health.js";
export { startProcess } from "./process.js";
export type { ProcessHandle, ProcessOptions } from "./process.js";
export { startNats, natsServerBinary } from "./nats-server.js";
export { makeTestCa } from "./pki.js";
export type { CertFiles, TestCa } from "./pki.js";
export type { NatsServerHandle } from "./nats-server.js";
