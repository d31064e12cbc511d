/**
 * A gRPC server with what every service of the stack serves besides its own
 * API: grpc.health.v1 (NOT_SERVING until the service says it is ready, and
 * while a dependency is down), server reflection, a small receive limit, and
 * graceful shutdown.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import { LOADER_OPTIONS, PROTO_DIR } from "@sts/proto";
import type { Logger } from "@sts/telemetry";

/** Largest request accepted by default: tokens are small; bigger input is refused before parsing. */
export const DEFAULT_MAX_RECEIVE_BYTES = 64 * 1024;

/** Options of startGrpcServer. */
export interface GrpcServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port: number;
  services: Array<{ definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation }>;
  reflection?: { protoFiles: readonly string[] };
  logger: Logger;
  maxReceiveMessageLength?: number;
  /** TLS (see grpcCredentials); plaintext when absent. */
  credentials?: grpc.ServerCredentials;
}

/** A running server. */
export interface GrpcServerHandle {
  port: number;
  address: string;
  server: grpc.Server;
  /** Sets the health of the server and every service on it. */
  setServing(serving: boolean): void;
  /** Whether the server reports SERVING. */
  isServing(): boolean;
  /** Stops accepting calls, lets running calls finish for graceMs, then forces. */
  shutdown(graceMs?: number): Promise<void>;
}

function serviceNames(definition: grpc.ServiceDefinition): string[] {
  const first = Object.values(definition)[0] as { path?: string } | undefined;
  const m = first?.path ? /^\/([^/]+)\//.exec(first.path) : null;
  return m?.[1] ? [m[1]] : [];
}

/** Starts a server; it reports NOT_SERVING until setServing(true). */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServerHandle> {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxReceiveMessageLength ?? DEFAULT_MAX_RECEIVE_BYTES,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5000,
  });
  const names = options.services.flatMap((s) => serviceNames(s.definition));
  const health = new HealthImplementation(Object.fromEntries(["", ...names].map((n) => [n, "NOT_SERVING" as const])));
  health.addToServer(server);
  for (const s of options.services) server.addService(s.definition, s.implementation);
  if (options.reflection) {
    const pkg = protoLoader.loadSync([...options.reflection.protoFiles], { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
    new ReflectionService(pkg).addToServer(server);
  }
  const host = options.host ?? "127.0.0.1";
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${options.port}`, options.credentials ?? grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
  let serving: boolean | undefined;
  return {
    port,
    address: `${host}:${port}`,
    server,
    isServing: () => serving === true,
    setServing(next) {
      if (serving === next) return;
      serving = next;
      for (const n of ["", ...names]) health.setStatus(n, next ? "SERVING" : "NOT_SERVING");
      options.logger.info({ serving: next }, "health changed");
    },
    async shutdown(graceMs = 5000) {
      for (const n of ["", ...names]) health.setStatus(n, "NOT_SERVING");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

/**
 * Runs fn once on SIGTERM or SIGINT, then exits. The one place that calls
 * process.exit: a service's main owns its process, libraries never do.
 */
export function onShutdownSignal(fn: () => Promise<void>, logger: Logger): void {
  let called = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (called) return;
    called = true;
    logger.info({ signal }, "shutting down");
    fn().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", handler);
  process.once("SIGINT", handler);
}
