/** One grpc.health.v1 Check call (the stack's own helper, reused by tests). */
export { checkHealth as grpcHealthy } from "@sts/grpc";
