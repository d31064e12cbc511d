/**
 * The NATS connection of a service: reconnects forever (nats.js gives up
 * after about 19 s by default), pings often so a dead server is noticed, and
 * tracks whether it is connected so readiness can report NATS being down.
 * It authenticates (credentials files read again at each reconnect) and
 * requires TLS when asked to or when a server URL is tls://.
 */
import { readFileSync } from "node:fs";
import { AuthorizationError, PermissionViolationError, UserAuthenticationExpiredError, connect } from "@nats-io/transport-node";
import type { ConnectionOptions, NatsConnection, TlsOptions } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { describeNatsAuth, natsAuthenticator } from "./credentials.js";
import type { NatsAuth } from "./credentials.js";

/** Minimal logger shape (pino-compatible). */
export interface NatsLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

/** PEM files of a TLS connection to NATS (read by nats.js at each connect, so rotated files take effect on reconnect). */
export interface NatsTlsFiles {
  /** CA bundle the server's certificate is verified against; the system's CAs when absent. */
  caFile?: string;
  /** Client certificate, for servers that verify clients (mutual TLS), with keyFile. */
  certFile?: string;
  keyFile?: string;
}

/** Options of connectNats. */
export interface NatsOptions {
  /** Server URLs; a tls:// one makes TLS required (nats.js itself only looks at host and port). */
  servers: string | string[];
  name: string;
  /** How to authenticate; none for a server without authorization. */
  auth?: NatsAuth;
  /** TLS required, with these files; also required (system CAs) when a server URL is tls://. */
  tls?: NatsTlsFiles;
  /**
   * Prefix of this connection's reply subjects (default `_INBOX`). Least-privilege
   * users subscribe only to their own prefix, so that no user can read the
   * replies (KV values, JetStream API answers) meant for another.
   */
  inboxPrefix?: string;
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
  /** Called with true/false whenever the connection comes up or goes down; returns what stops the calls. */
  onStatusChange(cb: (connected: boolean) => void): () => void;
  close(): Promise<void>;
}

/** Whether `err` (or its cause) is the server refusing a subject to this connection's user. */
export function isPermissionViolation(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof PermissionViolationError) return true;
  return false;
}

const RETRY_MS = 250;
const RETRY_LOG_MS = 10_000;

/** Why a failed first connection cannot succeed by retrying (refused credentials, TLS that cannot work), or undefined. */
function hopeless(err: unknown, auth: NatsAuth | undefined): string | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    // An authentication timeout is the server not hearing from a slow client in time, not a refusal.
    if ((e instanceof AuthorizationError && !/timeout/i.test(e.message)) || e instanceof UserAuthenticationExpiredError) {
      return `${auth ? "the server refused the credentials" : "the server requires credentials"} (${e.message})`;
    }
    const code = (e as NodeJS.ErrnoException).code ?? "";
    if (/CERT|SIGNATURE|^ERR_TLS|^ERR_SSL|^ERR_OSSL/.test(code)) return `TLS failed (${code}: ${e.message})`;
    if (/'tls'/.test(e.message)) return e.message;
  }
  return undefined;
}

function tlsOptions(options: NatsOptions, servers: string[]): TlsOptions | undefined {
  const files = options.tls;
  if (files) {
    // Checked here so that a wrong path stops the start naming the file; nats.js reads them again at each connect.
    for (const [what, file] of [
      ["CA file", files.caFile],
      ["certificate", files.certFile],
      ["key", files.keyFile],
    ] as const) {
      if (file === undefined) continue;
      try {
        readFileSync(file);
      } catch (err) {
        throw new Error(`cannot read the NATS TLS ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`);
      }
    }
    return {
      ...(files.caFile && { caFile: files.caFile }),
      ...(files.certFile && { certFile: files.certFile }),
      ...(files.keyFile && { keyFile: files.keyFile }),
    };
  }
  // nats.js strips the scheme and would talk plaintext to a server offering no TLS: a tls:// URL must mean TLS or nothing.
  return servers.some((s) => /^tls:\/\//i.test(s)) ? {} : undefined;
}

/**
 * Connects (waiting for a first connection) and keeps reconnecting forever.
 * Refused credentials or TLS that cannot work fail the first connection at
 * once, with a message naming the credentials used (never their content);
 * an unreachable server is waited for.
 */
export async function connectNats(options: NatsOptions): Promise<NatsHandle> {
  const servers = typeof options.servers === "string" ? [options.servers] : options.servers;
  const tls = tlsOptions(options, servers);
  const connectOptions: ConnectionOptions = {
    servers,
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RETRY_MS,
    pingInterval: options.pingIntervalMs ?? 5_000,
    maxPingOut: 2,
    // The first connection is waited for below, where a refusal can be told apart from an absent server.
    waitOnFirstConnect: false,
    // Once connected, a refusal is most likely a rotation in progress (the server has the new credentials, the pod's
    // file not yet): nats.js would stop reconnecting after two, leaving the service down until restarted.
    ignoreAuthErrorAbort: true,
    timeout: 5_000,
    // Every request (each JetStream publish) would otherwise build two Error objects up front for
    // their stack traces; measured as the issuer's largest single cost under load. Our errors carry context anyway.
    noAsyncTraces: true,
    ...(options.auth && { authenticator: natsAuthenticator(options.auth, options.logger) }),
    ...(tls && { tls }),
    ...(options.inboxPrefix && { inboxPrefix: options.inboxPrefix }),
  };
  let nc: NatsConnection | undefined;
  let loggedAt = 0;
  while (!nc) {
    try {
      nc = await connect(connectOptions);
    } catch (err) {
      const reason = hopeless(err, options.auth);
      if (reason) throw new Error(`cannot connect to NATS as ${options.name} with ${describeNatsAuth(options.auth)}: ${reason}`);
      if (Date.now() - loggedAt >= RETRY_LOG_MS) {
        loggedAt = Date.now();
        options.logger?.warn({ err }, "NATS not reachable yet; retrying");
      }
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }
  let connected = true;
  let refusedLoggedAt = 0;
  const listeners: Array<(c: boolean) => void> = [];
  const set = (next: boolean): void => {
    if (next === connected) return;
    connected = next;
    options.logger?.[next ? "info" : "warn"]({ connected: next }, next ? "NATS connected" : "NATS disconnected");
    // A copy: a listener may stop listening (a watched copy stopped by another's reaction) while this runs.
    for (const l of [...listeners]) l(next);
  };
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "staleConnection") set(false);
      else if (s.type === "reconnect") set(true);
      else if (s.type === "close") set(false);
      else if (s.type === "error" && s.error instanceof PermissionViolationError) {
        // A least-privilege user lacking a subject this service needs: the operator must see which one.
        options.logger?.error({ subject: s.error.subject, operation: s.error.operation }, "NATS permission violation");
      } else if (s.type === "error" && (s.error instanceof AuthorizationError || s.error instanceof UserAuthenticationExpiredError)) {
        // Every reconnect attempt (4 a second) is refused until the new credentials are in place: one line now and then.
        if (Date.now() - refusedLoggedAt >= RETRY_LOG_MS) {
          refusedLoggedAt = Date.now();
          options.logger?.warn({ credentials: describeNatsAuth(options.auth), error: s.error.message }, "NATS refused the credentials; retrying");
        }
      }
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
    onStatusChange: (cb) => {
      listeners.push(cb);
      return () => {
        const i = listeners.indexOf(cb);
        if (i !== -1) listeners.splice(i, 1);
      };
    },
    close: async () => {
      await nc.drain().catch(() => nc.close());
    },
  };
}
