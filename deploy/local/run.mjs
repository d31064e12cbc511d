#!/usr/bin/env node
// Local runner: starts nats-server (unless nats.url or NATS_URL names one) and
// every service of the stack as child processes, with data under .data/, and
// stops them all on Ctrl-C. Plain JavaScript, run after `tsc -b` (scripts/setup.sh).
// Nothing starts until the config checks out and every port it names is free.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const configFile = resolve(process.env.STS_CONFIG ?? join(root, "deploy/local/sts.yaml"));

/** Prints why the stack cannot start and exits, before anything was started. */
function refuse(lines) {
  for (const line of [lines].flat()) console.error(`mesh-sts: ${line}`);
  process.exit(1);
}

// The services would refuse a bad file one by one, each after nats-server was up: check it once, first, naming the
// field (and never quoting the file, which holds client secrets).
const { loadConfig } = await import(pathToFileURL(join(root, "libs/config/dist/index.js")).href);
let config;
try {
  config = loadConfig(configFile, process.env);
} catch (err) {
  refuse(err?.name === "ConfigError" ? err.message.split("\n") : `cannot load ${configFile}: ${err?.message ?? err}`);
}

/**
 * The local nats-server's port, STS_NATS_PORT read as the config reads its port overrides: decimal digits, here 1 to
 * 65535. Number() read "abc" as no port and " " or "0" as port 0: the port checks passed them, and the start failed
 * later and obscurely (nats-server refusing its -p, or the runner waiting 20 s for port 0, then stopping the stack).
 */
function natsPortOf(value) {
  if (value === undefined || value === "") return 4222;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : 0;
  if (port < 1 || port > 65535) refuse("STS_NATS_PORT: expected a port number from 1 to 65535, in decimal digits (the local nats-server's port)");
  return port;
}
// nats.url in the file, or NATS_URL (which overrides it): a NATS server is given, the runner starts none.
let natsUrl = config.nats.url;
const natsPort = natsUrl ? undefined : natsPortOf(process.env.STS_NATS_PORT);

/** Every listener the stack would open, with the config field that names it (port 0 picks a free one: not listed). */
function listeners() {
  const out = [];
  const add = (field, host, port) => port && out.push({ field, host, port });
  if (!natsUrl) add("the local nats-server (STS_NATS_PORT)", "127.0.0.1", natsPort);
  for (const [name, s] of Object.entries(config.services)) {
    if (!existsSync(join(root, `services/${name}/dist/main.js`))) continue;
    add(`services.${name}.port`, s.bind ?? s.host, s.port);
    add(`services.${name}.admin_port`, s.bind ?? s.host, s.admin_port);
  }
  const demoBuilt = existsSync(join(root, "services/demo/dist/service.js"));
  for (const [w, sc] of Object.entries(config.sidecars)) {
    for (const l of ["inbound", "outbound", "grpc_inbound", "grpc_outbound", "health"]) add(`sidecars.${w}.${l}.port`, sc[l]?.host, sc[l]?.port);
    if (demoBuilt) {
      const upstream = new URL(sc.upstream);
      add(`sidecars.${w}.upstream (the demo service ${w})`, upstream.hostname, Number(upstream.port));
    }
  }
  return out;
}

/** Why `l` cannot be listened on, or undefined when it can (the port is let go at once). */
function unavailable(l) {
  return new Promise((resolveCheck) => {
    const server = createServer();
    server.once("error", (err) => resolveCheck(err.code ?? String(err)));
    server.listen({ host: l.host, port: l.port, exclusive: true }, () => server.close(() => resolveCheck(undefined)));
  });
}

{
  const all = listeners();
  const problems = [];
  const seen = new Map();
  for (const l of all) {
    const key = `${l.host}:${l.port}`;
    if (seen.has(key)) problems.push(`${l.field} and ${seen.get(key)} both name ${key} in ${configFile}`);
    else seen.set(key, l.field);
  }
  for (const l of all) {
    const why = await unavailable(l);
    if (why === "EADDRINUSE")
      problems.push(
        `${l.host}:${l.port} (${l.field}) is in use: see \`ss -ltnp 'sport = :${l.port}'\` and stop what holds it, or change the port in ${configFile}`,
      );
    else if (why) problems.push(`cannot listen on ${l.host}:${l.port} (${l.field}): ${why}`);
  }
  if (problems.length > 0) refuse(problems);
}

const dataDir = resolve(process.env.STS_DATA_DIR ?? join(root, ".data"));
mkdirSync(dataDir, { recursive: true, mode: 0o700 });

/** A secret kept across restarts under .data/ (mode 0600). */
function persistentSecret(name) {
  const file = join(dataDir, name);
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString("base64url"), { mode: 0o600 });
  return { file, value: readFileSync(file, "utf8").trim() };
}

/**
 * How long the stack's processes get to stop after SIGTERM before they are killed: more than a service takes to drain
 * (its gRPC calls get 5 s, then its NATS connection), less than an operator waits. A connection a client keeps open (a
 * half-sent request, a stream) can hold a server's close for good.
 */
const STOP_GRACE_MS = 10_000;

/** Every process started, with a promise of its end (its exit, or a spawn that failed). */
const children = [];
let stopping = false;
/** Processes still running. */
const running = () => children.filter((c) => !c.ended);
function killRunning(signal) {
  for (const c of running().reverse()) c.process.kill(signal);
}
/**
 * Stops the stack: SIGTERM to each process, SIGKILL to any still running after STOP_GRACE_MS (or at a second Ctrl-C),
 * and exits only once none is left, so that nothing keeps the ports, the store or the audit database after the runner.
 */
function stopAll(code) {
  if (stopping) return;
  stopping = true;
  killRunning("SIGTERM");
  const deadline = setTimeout(() => {
    for (const c of running()) console.error(`[${c.name}] still running ${STOP_GRACE_MS / 1000} s after SIGTERM: killed`);
    killRunning("SIGKILL");
  }, STOP_GRACE_MS);
  Promise.all(children.map((c) => c.exited)).then(() => {
    clearTimeout(deadline);
    process.exit(code);
  });
}
// SIGHUP is the terminal closing (a window, an ssh session): every process of the job gets it, and nats-server takes
// it as "reload your config" and keeps running. Left to its default, it ended the runner alone, and nats-server stayed
// behind holding its port and store (the next npm start found the port in use).
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => (stopping ? killRunning("SIGKILL") : stopAll(0)));
}
// With the terminal or the pipe it wrote to gone, a log line has nowhere to go: the write's error (EPIPE, EIO) must not
// end the runner before the processes it started have stopped.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});

function start(name, command, args, env = {}) {
  // Stopping (a process died while the others were starting): one started now would outlive the runner.
  if (stopping) return;
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const entry = { name, process: child, ended: false };
  entry.exited = new Promise((resolveExit) => {
    const end = () => {
      entry.ended = true;
      resolveExit();
    };
    child.once("exit", end);
    // A spawn that failed (a binary gone) emits no exit.
    child.once("error", (err) => {
      console.error(`[${name}] ${err.message}`);
      if (child.pid === undefined) end();
      if (!stopping) stopAll(1);
    });
  });
  children.push(entry);
  const prefix = `[${name}] `;
  for (const stream of [child.stdout, child.stderr]) {
    let buf = "";
    stream.on("data", (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        process.stdout.write(prefix + buf.slice(0, i + 1));
        buf = buf.slice(i + 1);
      }
    });
  }
  child.on("exit", (code, signal) => {
    if (!stopping) {
      console.error(`${prefix}exited (${signal ?? code}); stopping the stack`);
      stopAll(1);
    }
  });
}

function waitPort(port, host = "127.0.0.1", timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolveWait, reject) => {
    const attempt = () => {
      const s = connect({ port, host }, () => {
        s.destroy();
        resolveWait();
      });
      s.on("error", () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${host}:${port}`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

// Our own nats-server requires a user per service, with the least-privilege permissions of
// deploy/k8s/nats/permissions.conf (see deploy/local/nats-server.conf); with NATS_URL, give credentials with STS_NATS_*.
const natsUsers = {};
if (!natsUrl) {
  for (const name of ["issuer", "exchanger", "policy", "audit", "sidecar"]) {
    const file = join(dataDir, `nats-${name}.password`);
    // nats-server parses the variable's value as config text: letters and digits, a letter first, stay a string.
    if (!existsSync(file)) writeFileSync(file, `p${randomBytes(32).toString("hex")}`, { mode: 0o600 });
    natsUsers[name] = { user: `sts-${name}`, file, password: readFileSync(file, "utf8").trim() };
  }
}
/** The environment that makes service `name` log in to our nats-server as its own user. */
const natsEnv = (name) => (natsUsers[name] ? { STS_NATS_USER: natsUsers[name].user, STS_NATS_PASSWORD_FILE: natsUsers[name].file } : {});
if (!natsUrl) {
  const which = spawnSync("sh", ["-c", "command -v nats-server || ls /usr/sbin/nats-server"], { encoding: "utf8" });
  const bin = which.stdout.trim().split("\n")[0];
  if (!bin) {
    console.error("nats-server not found: apt-get install -y nats-server, or set NATS_URL");
    process.exit(1);
  }
  const passwords = Object.fromEntries(Object.entries(natsUsers).map(([name, u]) => [`STS_NATS_${name.toUpperCase()}_PASSWORD`, u.password]));
  const conf = join(root, "deploy/local/nats-server.conf");
  // nats.data_dir, unless STS_DATA_DIR moves every piece of local state.
  const store = process.env.STS_DATA_DIR ? join(dataDir, "nats") : resolve(root, config.nats.data_dir);
  start("nats", bin, ["-c", conf, "-js", "-sd", store, "-a", "127.0.0.1", "-p", String(natsPort)], passwords);
  natsUrl = `nats://127.0.0.1:${natsPort}`;
  await waitPort(natsPort).catch((err) => {
    console.error(`[nats] ${err.message}; stopping the stack`);
    stopAll(1);
    return new Promise(() => {});
  });
}

const master = persistentSecret("master.key");
const exchangerSecret = persistentSecret("exchanger.secret");
const env = {
  STS_CONFIG: configFile,
  NATS_URL: natsUrl,
  // audit.db_path (relative to the repository, where the services run) unless STS_DATA_DIR moves local state.
  ...(process.env.STS_DATA_DIR && { STS_AUDIT_DB: join(dataDir, "audit.sqlite") }),
};
// Each secret goes only to the services that use it, as a deployment's would: the master key to the issuer, the
// exchanger's Mint credential to the issuer and the exchanger, the policy break-glass token to the policy service.
const policyAdmin = persistentSecret("policy-admin.token");
const secretsOf = {
  issuer: { STS_MASTER_KEY_FILE: master.file, STS_EXCHANGER_CLIENT_SECRET: exchangerSecret.value },
  exchanger: { STS_EXCHANGER_CLIENT_SECRET: exchangerSecret.value },
  policy: { STS_POLICY_ADMIN_TOKEN: policyAdmin.value },
};
const service = (name) => ["--enable-source-maps", join(root, `services/${name}/dist/main.js`)];
for (const name of ["issuer", "policy", "exchanger", "gateway", "audit"]) {
  if (!existsSync(join(root, `services/${name}/dist/main.js`))) continue;
  start(name, process.execPath, service(name), { ...env, ...secretsOf[name], ...natsEnv(name) });
  // The issuer creates the events stream and the buckets the others open (their NATS users may not): it goes first.
  if (name === "issuer") {
    await waitPort(config.services.issuer.port, config.services.issuer.host, 60000).catch((err) => {
      console.error(`[issuer] ${err.message}; stopping the stack`);
      stopAll(1);
      return new Promise(() => {});
    });
  }
}
// The demo: each workload of `sidecars` with its sidecar (secrets from the config's clients).
const secrets = Object.fromEntries(config.clients.map((c) => [c.client_id, c.client_secret]));
const demo = join(root, "services/demo/dist/service.js");
for (const [workload, sc] of Object.entries(config.sidecars)) {
  const upstream = new URL(sc.upstream);
  const next = Object.keys(sc.routes ?? {})[0];
  if (existsSync(demo)) {
    start(`demo ${workload}`, process.execPath, [demo], {
      DEMO_NAME: workload,
      DEMO_PORT: upstream.port,
      DEMO_OUTBOUND: `http://${sc.outbound.host ?? "127.0.0.1"}:${sc.outbound.port}`,
      ...(next && { DEMO_NEXT: next }),
    });
  }
  start(`sidecar ${workload}`, process.execPath, service("sidecar"), {
    ...env,
    ...natsEnv("sidecar"),
    STS_SIDECAR: workload,
    STS_SIDECAR_CLIENT_SECRET: secrets[workload] ?? "",
  });
}
console.log(`mesh-sts: local stack starting (config ${configFile}, NATS ${natsUrl}); Ctrl-C stops it.`);
console.log("mesh-sts: when it is up, run the A → B → C demo in another terminal: npm run demo");
