/**
 * The NATS connection of a service: reconnects forever (nats.js gives up
 * after about 19 s by default), pings often so a dead server is noticed, and
 * tracks whether it is connected so readiness can report NATS being down.
 */
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";

/** Minimal logger shape (pino-compatible). */
export interface NatsLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

/** Options of connectNats. */
export interface NatsOptions {
  servers: string | string[];
  name: string;
  token?: string;
  user?: string;
  pass?: string;
  logger?: NatsLogger;
  /** Ping interval in ms; the connection is declared stale after 2 missed pings. */
  pingIntervalMs?: number;
}

/** A connected handle with JetStream, KV and connection state. */
export interface NatsHandle {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kvm: Kvm;
  isConnected(): boolean;
  /** Called with true/false whenever the connection comes up or goes down. */
  onStatusChange(cb: (connected: boolean) => void): void;
  close(): Promise<void>;
}

/** Connects (waiting for a first connection) and keeps reconnecting forever. */
export async function connectNats(options: NatsOptions): Promise<NatsHandle> {
  const nc = await connect({
    servers: options.servers,
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: options.pingIntervalMs ?? 5_000,
    maxPingOut: 2,
    waitOnFirstConnect: true,
    timeout: 5_000,
    // Every request (each JetStream publish) would otherwise build two Error objects up front for
    // their stack traces; measured as the issuer's largest single cost under load. Our errors carry context anyway.
    noAsyncTraces: true,
    ...(options.token && { token: options.token }),
    ...(options.user && { user: options.user, pass: options.pass }),
  });
  let connected = true;
  const listeners: Array<(c: boolean) => void> = [];
  const set = (next: boolean): void => {
    if (next === connected) return;
    connected = next;
    options.logger?.[next ? "info" : "warn"]({ connected: next }, next ? "NATS connected" : "NATS disconnected");
    for (const l of listeners) l(next);
  };
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "staleConnection") set(false);
      else if (s.type === "reconnect") set(true);
      else if (s.type === "close") set(false);
    }
  })().catch((err: unknown) => options.logger?.error({ err }, "NATS status loop ended"));
  nc.closed().then(
    () => set(false),
    () => set(false),
  );
  const js = jetstream(nc);
  return {
    nc,
    js,
    jsm: await jetstreamManager(nc),
    kvm: new Kvm(js),
    isConnected: () => connected && !nc.isClosed(),
    onStatusChange: (cb) => listeners.push(cb),
    close: async () => {
      await nc.drain().catch(() => nc.close());
    },
  };
}
