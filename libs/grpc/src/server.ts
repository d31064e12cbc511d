/**
 * A gRPC server with what every service of the stack serves besides its own
 * API: grpc.health.v1 (NOT_SERVING until the service says it is ready, while a
 * dependency is down, and while its identity is withdrawn), server reflection,
 * a small receive limit, a bounded age for TLS connections, and graceful shutdown.
 * On TLS material that rotates, it terminates TLS itself (tls-listener.ts), so
 * that a new CA bundle or a withdrawn identity reaches the open connections.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { LOADER_OPTIONS, PROTO_DIR } from "@sts/proto";
import type { Logger } from "@sts/telemetry";
import { HealthService } from "./health.js";
import { identityOf, rotatingServerTlsOf } from "./tls.js";
import { TlsListener } from "./tls-listener.js";

/** Largest request accepted by default: tokens are small; bigger input is refused before parsing. */
export const DEFAULT_MAX_RECEIVE_BYTES = 64 * 1024;

/** Room beside a forwarded HTTP body's parameters for the fields the gateway adds and the protobuf framing. */
const FORWARDED_EXTRA_BYTES = 12 * 1024;

/**
 * The receive limit of a server the gateway forwards request bodies of up to `maxBodyBytes` to (the exchanger's
 * Exchange, the issuer's token calls): never below the default, so a body the gateway took under a raised
 * `tokens.max_token_bytes` is not refused on the way in as too large.
 */
export function receiveBytesFor(maxBodyBytes: number): number {
  return Math.max(DEFAULT_MAX_RECEIVE_BYTES, maxBodyBytes + FORWARDED_EXTRA_BYTES);
}

/**
 * SETTINGS_MAX_CONCURRENT_STREAMS every server announces: grpc-js and Node leave it at 2^32 - 1, so one connection
 * could start any number of calls at once. The stack's own callers batch (two TokenBatch/MintBatch calls in flight),
 * and a grpc-js channel queues its calls past it rather than failing them; 1000 as the sidecars' listeners.
 */
export const MAX_CONCURRENT_STREAMS = 1000;

/**
 * How long a TLS connection may stay open before the server asks the client to reconnect (GOAWAY; grpc-js adds up to
 * 10 % jitter). TLS checks the peer's certificate, its chain and the trust bundle only at the handshake, and clients
 * keep connections alive indefinitely: without a bound, a certificate that expired, a CA taken out of the bundle or a
 * rotated SVID would keep its access on a connection opened before. Plaintext servers have no certificate to
 * re-check, and keep their connections.
 */
export const MAX_CONNECTION_AGE_MS = 30 * 60_000;

/**
 * How long calls under way on a connection past its age may still run before it is closed: far longer than any unary
 * deadline of the stack. A stream still open then (an audit Tail) ends with UNAVAILABLE and is opened again.
 */
export const MAX_CONNECTION_AGE_GRACE_MS = 2 * 60_000;

/** Options of startGrpcServer. */
export interface GrpcServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port: number;
  services: Array<{ definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation }>;
  reflection?: { protoFiles: readonly string[] };
  logger: Logger;
  maxReceiveMessageLength?: number;
  /**
   * TLS (see grpcCredentials); plaintext when absent. When its identity can be withdrawn (openGrpcCredentials with the
   * Workload API), the server reports NOT_SERVING and closes its open connections for as long as it is. When its CA
   * bundle rotates (reload_interval, the Workload API), the open connections whose peer chain does not reach the new
   * bundle are closed.
   */
  credentials?: grpc.ServerCredentials;
  /** Age of a TLS connection at which the server sends GOAWAY; default {@link MAX_CONNECTION_AGE_MS} (tests shorten it). */
  maxConnectionAgeMs?: number;
}

/** A running server. */
export interface GrpcServerHandle {
  port: number;
  address: string;
  server: grpc.Server;
  /** Sets the health of the server and every service on it; it is reported only while the identity is held. */
  setServing(serving: boolean): void;
  /** Whether the server reports SERVING: the service said so, and it holds its identity. */
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
  const credentials = options.credentials ?? grpc.ServerCredentials.createInsecure();
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxReceiveMessageLength ?? DEFAULT_MAX_RECEIVE_BYTES,
    "grpc.max_concurrent_streams": MAX_CONCURRENT_STREAMS,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5000,
    ...(credentials._isSecure() && {
      "grpc.max_connection_age_ms": options.maxConnectionAgeMs ?? MAX_CONNECTION_AGE_MS,
      "grpc.max_connection_age_grace_ms": MAX_CONNECTION_AGE_GRACE_MS,
    }),
  });
  const names = options.services.flatMap((s) => serviceNames(s.definition));
  const health = new HealthService(["", ...names]);
  health.addToServer(server);
  for (const s of options.services) server.addService(s.definition, s.implementation);
  if (options.reflection) {
    const pkg = protoLoader.loadSync([...options.reflection.protoFiles], { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
    new ReflectionService(pkg).addToServer(server);
  }
  const host = options.host ?? "127.0.0.1";
  const rotating = rotatingServerTlsOf(credentials);
  // grpc-js's own listener keeps a connection whatever its certificate provider says later; this one closes those
  // whose peer no longer chains to a rotated bundle, and all of them while the identity is withdrawn.
  const injector = rotating && server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener =
    rotating && injector
      ? await TlsListener.listen({ ...rotating, host, port: options.port, accept: (socket) => injector.injectConnection(socket) })
      : undefined;
  const port =
    listener?.port ??
    (await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host}:${options.port}`, credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
    }));
  const identity = identityOf(credentials);
  let wanted = false;
  let stopping = false;
  let serving: boolean | undefined;
  const report = (): void => {
    const held = identity?.held() ?? true;
    // Once shutting down, for good: a dependency coming back during the drain (NATS reconnecting) says nothing.
    const next = wanted && held && !stopping;
    if (serving === next) return;
    serving = next;
    health.setAll(next ? "SERVING" : "NOT_SERVING");
    options.logger.info({ serving: next, ...(!held && { identity: "withdrawn" }) }, "health changed");
  };
  // The listener closes the connections of a withdrawn identity (a call under way over them fails), and refuses new
  // ones until an identity is back; the health follows it here.
  const unsubscribe = identity?.subscribe(report) ?? (() => undefined);
  return {
    port,
    address: `${host}:${port}`,
    server,
    isServing: () => serving === true,
    setServing(next) {
      wanted = next;
      report();
    },
    async shutdown(graceMs = 5000) {
      unsubscribe();
      stopping = true;
      serving = false;
      // NOT_SERVING before the listener closes, and Watch streams ended: an open one would hold the drain for graceMs.
      health.close();
      listener?.close();
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
      // Handshakes still under way are no session of the server's to close.
      listener?.destroyConnections();
    },
  };
}
