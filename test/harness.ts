/**
 * End-to-end harness: a real nats-server and real service processes (built
 * dist/main.js) on free loopback ports, configured through a temporary YAML
 * file, with readiness polled through gRPC health and HTTP /readyz.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { stringify } from "yaml";
import { freePort, grpcHealthy, httpReady, startNats, startProcess, waitFor } from "@sts/testkit";
import { grpcCredentials } from "@sts/grpc";
import type { GrpcCredentials, GrpcTlsFiles } from "@sts/grpc";
import type { NatsServerHandle, NatsServerOptions, ProcessHandle } from "@sts/testkit";
import type { EventType } from "@sts/nats";

/** The repository root: the nearest folder above this file holding nx.json (works from test/ and test/dist/). */
export const ROOT = (() => {
  let dir = resolve(fileURLToPath(new URL(".", import.meta.url)));
  while (!existsSync(join(dir, "nx.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

/** Services of the stack, in start order. */
export const SERVICES = ["issuer", "policy", "exchanger", "gateway", "audit"] as const;
/** One service name. */
export type ServiceName = (typeof SERVICES)[number];

/** A running stack. */
export interface Stack {
  nats: NatsServerHandle;
  processes: Partial<Record<ServiceName, ProcessHandle>>;
  /** host:port of each gRPC service. */
  address: Record<Exclude<ServiceName, "gateway">, string>;
  /** The audit projection's SQLite file. */
  auditDb: string;
  /** Gateway base URL, also the issuer identifier. */
  gatewayUrl: string;
  /** Secrets the stack was started with (tests use them to play the exchanger or an operator). */
  secrets: { master: string; exchanger: string; policyAdmin: string };
  configFile: string;
  /** Environment each service got. */
  env: Record<string, string>;
  /** Starts (or starts again) one service and waits until it is ready. */
  start(name: ServiceName, extraEnv?: Record<string, string>): Promise<ProcessHandle>;
  /** Starts one more replica of a gRPC service on its own free port. */
  startReplica(name: Exclude<ServiceName, "gateway">, extraEnv?: Record<string, string>): Promise<{ handle: ProcessHandle; address: string }>;
  /** Waits until each service of the stack (not replicas, not sidecars) reports ready again, after a fault a test injected and undid. */
  ready(timeoutMs?: number): Promise<void>;
  /** Stops every process of the stack, those still starting included (their start then fails), and nats-server; once. */
  stop(): Promise<void>;
}

/** Options of startStack. */
export interface StackOptions {
  /** Services to start; all by default. */
  services?: readonly ServiceName[];
  /** Extra environment for every service. */
  env?: Record<string, string>;
  /** How the stack's nats-server runs (users, TLS, included config); NATS_URL follows its URL (tls:// with TLS). */
  nats?: NatsServerOptions;
  /** What readiness probes dial the gRPC services with; by default the grpc_tls files (plaintext without grpc_tls); required with grpc_tls.workload_api. */
  probeCredentials?: GrpcCredentials;
}

/** Starts nats-server and the services with the given config (YAML document as an object). */
export async function startStack(config: Record<string, unknown>, options: StackOptions = {}): Promise<Stack> {
  // With grpc_tls files configured, readiness probes dial the services the way the services dial each other; with the
  // Workload API there are no files to dial with: the test says what its probes present.
  const tls = config.grpc_tls as GrpcTlsFiles | { workload_api: unknown } | undefined;
  const files = tls && "cert_file" in tls ? tls : undefined;
  if (tls && !files && !options.probeCredentials) {
    throw new TypeError("startStack: grpc_tls names no cert_file (grpc_tls.workload_api): pass probeCredentials for the readiness probes to dial with");
  }
  const credentials = options.probeCredentials ?? (files && grpcCredentials({ ...files, require_client_cert: files.require_client_cert ?? true }));
  const dir = mkdtempSync(join(tmpdir(), "sts-e2e-"));
  const nats = await startNats(options.nats);
  const ports = { issuer: await freePort(), policy: await freePort(), exchanger: await freePort(), gateway: await freePort(), audit: await freePort() };
  const gatewayUrl = `http://127.0.0.1:${ports.gateway}`;
  const configFile = join(dir, "sts.yaml");
  const services = { ...(config.services as object | undefined) };
  // As on the local stack, tests read the audit trail without a credential unless they say otherwise.
  const audit = { allow_anonymous: true, ...(config.audit as object | undefined) };
  writeFileSync(configFile, stringify({ issuer: gatewayUrl, ...config, services, audit }));
  const secrets = {
    master: randomBytes(32).toString("base64url"),
    exchanger: randomBytes(24).toString("base64url"),
    policyAdmin: randomBytes(24).toString("base64url"),
  };
  const env: Record<string, string> = {
    STS_CONFIG: configFile,
    NATS_URL: nats.url,
    STS_MASTER_KEY: secrets.master,
    STS_EXCHANGER_CLIENT_SECRET: secrets.exchanger,
    STS_POLICY_ADMIN_TOKEN: secrets.policyAdmin,
    STS_ISSUER: gatewayUrl,
    STS_LOG_LEVEL: process.env.STS_TEST_LOG_LEVEL ?? "warn",
    STS_ISSUER_PORT: String(ports.issuer),
    STS_POLICY_PORT: String(ports.policy),
    STS_EXCHANGER_PORT: String(ports.exchanger),
    STS_GATEWAY_PORT: String(ports.gateway),
    STS_AUDIT_PORT: String(ports.audit),
    STS_AUDIT_DB: join(dir, "audit.sqlite"),
    ...options.env,
  };
  const address = {
    issuer: `127.0.0.1:${ports.issuer}`,
    policy: `127.0.0.1:${ports.policy}`,
    exchanger: `127.0.0.1:${ports.exchanger}`,
    audit: `127.0.0.1:${ports.audit}`,
  };
  const processes: Stack["processes"] = {};
  /** Set first thing in stop(): whatever starts after it is stopped again, and the start fails. */
  let stopped = false;
  const abandon = new AbortController();
  /** Every process the stack started (services, their restarts, replicas); stopping one that exited does nothing. */
  const running = new Set<ProcessHandle>();
  /** Starts under way, which stop() waits for. */
  const starting = new Set<Promise<unknown>>();

  function launch(name: ServiceName, extraEnv: Record<string, string>, ready: () => Promise<boolean>): Promise<ProcessHandle> {
    const started = (async () => {
      if (stopped) throw new Error(`stack stopped: ${name} not started`);
      const handle = await startProcess({
        name,
        command: process.execPath,
        // STS_TEST_NODE_ARGS passes profiler flags (e.g. --cpu-prof) to the services.
        args: [...(process.env.STS_TEST_NODE_ARGS ?? "").split(" ").filter(Boolean), "--enable-source-maps", join(ROOT, `services/${name}/dist/main.js`)],
        env: { ...env, ...extraEnv },
        cwd: ROOT,
        ready,
        readyTimeoutMs: 20_000,
        signal: abandon.signal,
      });
      // Ready just as stop() began (a hook that timed out mid-start, then afterAll): nothing may outlive the stack.
      if (stopped) {
        await handle.stop();
        throw new Error(`stack stopped while ${name} was starting: stopped it again`);
      }
      running.add(handle);
      return handle;
    })();
    const settled = (): void => void starting.delete(started);
    starting.add(started);
    started.then(settled, settled);
    return started;
  }

  const readiness = (name: ServiceName) => () =>
    name === "gateway" ? httpReady(`${gatewayUrl}/readyz`) : grpcHealthy(address[name], "", 1000, credentials?.channelTo(name));

  async function start(name: ServiceName, extraEnv: Record<string, string> = {}): Promise<ProcessHandle> {
    const handle = await launch(name, extraEnv, readiness(name));
    processes[name] = handle;
    return handle;
  }

  async function startReplica(
    name: Exclude<ServiceName, "gateway">,
    extraEnv: Record<string, string> = {},
  ): Promise<{ handle: ProcessHandle; address: string }> {
    const port = await freePort();
    const addr = `127.0.0.1:${port}`;
    const handle = await launch(name, { ...extraEnv, [`STS_${name.toUpperCase()}_PORT`]: String(port) }, () =>
      grpcHealthy(addr, "", 1000, credentials?.channelTo(name)),
    );
    return { handle, address: addr };
  }

  let stopping: Promise<void> | undefined;
  const stack: Stack = {
    nats,
    processes,
    address,
    gatewayUrl,
    auditDb: join(dir, "audit.sqlite"),
    secrets,
    configFile,
    env,
    start,
    startReplica,
    async ready(timeoutMs = 20_000) {
      // Side by side, so a slow one is named within the budget rather than by the calling hook's own timeout.
      await Promise.all((Object.keys(processes) as ServiceName[]).map((name) => waitFor(readiness(name), { timeoutMs, message: `${name} not ready` })));
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        abandon.abort();
        await Promise.allSettled([...starting]);
        // Nothing joins `running` once `stopped` is set and the starts under way have settled.
        await Promise.all([...running].map((p) => p.stop()));
        await nats.stop();
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  try {
    for (const name of options.services ?? SERVICES) await start(name);
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}

/** Starts the sidecar of `workload` (declared under `sidecars` in the stack's config) as its own process, with `extraEnv` besides the stack's. */
export function startSidecar(
  stack: Stack,
  workload: string,
  secret: string,
  ready: () => Promise<boolean>,
  extraEnv: Record<string, string> = {},
): Promise<ProcessHandle> {
  return startProcess({
    name: `sidecar ${workload}`,
    command: process.execPath,
    args: [join(ROOT, "services/sidecar/dist/main.js")],
    cwd: ROOT,
    env: { ...stack.env, ...extraEnv, STS_SIDECAR: workload, STS_SIDECAR_CLIENT_SECRET: secret },
    ready,
  });
}

/** `Basic` credentials per RFC 6749 §2.3.1 (form-encoded, then base64). */
export function basicAuth(id: string, secret: string): string {
  const enc = (s: string): string => encodeURIComponent(s).replace(/%20/g, "+");
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString("base64")}`;
}

/** POSTs a form to the gateway and returns status, headers and parsed JSON. */
export async function postForm(
  url: string,
  form: Record<string, string | string[]>,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const item of Array.isArray(v) ? v : [v]) params.append(k, item);
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body: params.toString() });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Decodes a JWT payload without verifying (for assertions on what was issued). */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
}

/** An access token from the gateway's client_credentials grant; throws, with the gateway's answer, when it is refused. */
export async function clientCredentialsToken(stack: Pick<Stack, "gatewayUrl">, client: string, secret: string, form: Record<string, string>): Promise<string> {
  const r = await postForm(`${stack.gatewayUrl}/oauth2/token`, { grant_type: "client_credentials", ...form }, { authorization: basicAuth(client, secret) });
  if (r.status !== 200 || typeof r.body.access_token !== "string") throw new Error(`client_credentials for ${client}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.access_token;
}

/** One CloudEvent as stored in the events stream, with its raw JSON (to check that nothing secret was written). */
export interface StoredEvent {
  type: string;
  data: Record<string, unknown>;
  raw: string;
}

/** Every event stored in the stack's JetStream events stream, oldest first. */
export async function storedEvents(natsUrl: string): Promise<StoredEvent[]> {
  const { connectNats, EVENTS_STREAM } = await import("@sts/nats");
  const nats = await connectNats({ servers: natsUrl, name: "test-events" });
  try {
    const info = await nats.jsm.streams.info(EVENTS_STREAM.name);
    const events: StoredEvent[] = [];
    // An empty stream reports first_seq 0 (or last_seq + 1), which is no message's sequence.
    if (info.state.messages === 0) return events;
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      // null is a sequence deleted from the stream; any other failure throws: an event a check could not read is
      // not an event without the token it looks for.
      const m = await nats.jsm.streams.getMessage(EVENTS_STREAM.name, { seq });
      if (m) events.push({ ...m.json<{ type: string; data: Record<string, unknown> }>(), raw: m.string() });
    }
    if (events.length !== info.state.messages) throw new Error(`storedEvents: read ${events.length} of the ${info.state.messages} events stored`);
    return events;
  } finally {
    await nats.close();
  }
}

/**
 * The tokens of `tokens` found in `text`, whole or (a JWT) by their signature alone, which is what identifies one and
 * what a log line or event that cut or re-encoded the rest would still hold. Throws when given no token: a search
 * for nothing would pass whatever `text` held.
 */
export function leakedTokens(text: string, tokens: readonly string[]): string[] {
  if (tokens.length === 0) throw new TypeError("leakedTokens: no token to look for");
  return tokens.filter((token) => {
    const parts = token.split(".");
    const signature = parts.length === 3 ? parts[2] : undefined;
    return text.includes(token) || (signature !== undefined && signature.length > 0 && text.includes(signature));
  });
}

/**
 * Runs `during` while the events stream refuses publishes (a real JetStream fault): every publish (full, discarding
 * new: the server answers each with an error), or with `only` just that type's (its subject taken out of the stream,
 * so nothing stores it); then lets it take them again. Returns what `during` returned and the stream's last sequence
 * before and after, so a test can check nothing was stored meanwhile.
 */
export async function whileEventsRefused<T>(
  natsUrl: string,
  during: () => Promise<T>,
  only?: EventType,
): Promise<{ value: T; lastSeq: number; lastSeqAfter: number }> {
  const { connectNats, EVENTS_STREAM, EVENT_TYPES, eventSubject } = await import("@sts/nats");
  const { DiscardPolicy } = await import("@nats-io/jetstream");
  const nats = await connectNats({ servers: natsUrl, name: "test-events-refused" });
  try {
    const { config, state } = await nats.jsm.streams.info(EVENTS_STREAM.name);
    const others = Object.values(EVENT_TYPES).filter((t) => t !== only);
    await nats.jsm.streams.update(EVENTS_STREAM.name, only ? { subjects: others.map(eventSubject) } : { max_msgs: state.messages, discard: DiscardPolicy.New });
    try {
      const value = await during();
      return { value, lastSeq: state.last_seq, lastSeqAfter: (await nats.jsm.streams.info(EVENTS_STREAM.name)).state.last_seq };
    } finally {
      await nats.jsm.streams.update(EVENTS_STREAM.name, { subjects: config.subjects, max_msgs: config.max_msgs, discard: config.discard });
    }
  } finally {
    await nats.close();
  }
}

/** A TCP relay to nats-server that can be cut: the process behind it loses NATS while everything else keeps it. */
export async function natsRelay(natsUrl: string): Promise<{ url: string; cut(): void; close(): void }> {
  const target = new URL(natsUrl);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => s.destroy());
      s.on("close", () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
  const cut = (): void => {
    server.close();
    for (const s of sockets) s.destroy();
  };
  return { url: `nats://127.0.0.1:${port}`, cut, close: cut };
}
