/**
 * Loads the YAML config, applies environment overrides and validates it. A bad
 * file stops the start with the field path and what is wrong with it.
 */
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { configSchema } from "./schema.js";
import type { StsConfig } from "./schema.js";
import { resolveWorkloadApiSocket } from "./spiffe-endpoint.js";

/** Raised for an unreadable or invalid config; `problems` name each field. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid configuration in ${source}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

/** Formats a zod path as `clients[2].jwks_uri`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || "(top level)";
}

/** Fields renamed since an earlier release, by their dotted old path: what to write instead. */
const RENAMED: Readonly<Record<string, string>> = {
  subject_revocation: "renamed issuer_admin (api_audience stays; scope is now revoke_subjects_scope)",
};

function describe(issue: z.core.$ZodIssue): string[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => {
      const path = formatPath([...issue.path, k]);
      return `${path}: ${RENAMED[path] ?? "unknown field"}`;
    });
  }
  return [`${formatPath(issue.path)}: ${issue.message}`];
}

/** Environment variables that override the file (the only ones read, with SPIFFE_ENDPOINT_SOCKET for a grpc_tls.workload_api without a socket). */
export const ENV_OVERRIDES = {
  STS_ISSUER: "issuer",
  NATS_URL: "nats.url",
  STS_NATS_CREDS_FILE: "nats.creds_file",
  STS_NATS_NKEY_SEED_FILE: "nats.nkey_seed_file",
  STS_NATS_USER: "nats.user",
  STS_NATS_PASSWORD: "nats.password",
  STS_NATS_PASSWORD_FILE: "nats.password_file",
  STS_NATS_TOKEN: "nats.token",
  STS_NATS_TOKEN_FILE: "nats.token_file",
  STS_NATS_TLS_CA_FILE: "nats.tls.ca_file",
  STS_NATS_TLS_CERT_FILE: "nats.tls.cert_file",
  STS_NATS_TLS_KEY_FILE: "nats.tls.key_file",
  STS_GATEWAY_HOST: "services.gateway.host",
  STS_GATEWAY_PORT: "services.gateway.port",
  STS_GATEWAY_BIND: "services.gateway.bind",
  STS_GATEWAY_ADMIN_PORT: "services.gateway.admin_port",
  STS_ISSUER_HOST: "services.issuer.host",
  STS_ISSUER_PORT: "services.issuer.port",
  STS_ISSUER_BIND: "services.issuer.bind",
  STS_ISSUER_ADMIN_PORT: "services.issuer.admin_port",
  STS_EXCHANGER_HOST: "services.exchanger.host",
  STS_EXCHANGER_PORT: "services.exchanger.port",
  STS_EXCHANGER_BIND: "services.exchanger.bind",
  STS_EXCHANGER_ADMIN_PORT: "services.exchanger.admin_port",
  STS_POLICY_HOST: "services.policy.host",
  STS_POLICY_PORT: "services.policy.port",
  STS_POLICY_BIND: "services.policy.bind",
  STS_POLICY_ADMIN_PORT: "services.policy.admin_port",
  STS_AUDIT_HOST: "services.audit.host",
  STS_AUDIT_PORT: "services.audit.port",
  STS_AUDIT_BIND: "services.audit.bind",
  STS_AUDIT_ADMIN_PORT: "services.audit.admin_port",
  STS_AUDIT_DB: "audit.db_path",
  STS_GRPC_TLS_CERT_FILE: "grpc_tls.cert_file",
  STS_GRPC_TLS_KEY_FILE: "grpc_tls.key_file",
  STS_GRPC_TLS_CA_FILE: "grpc_tls.ca_file",
  STS_KEYS_ALGORITHM: "keys.algorithm",
  STS_KEYS_JWK_FILE: "keys.jwk_file",
  STS_LOG_LEVEL: "telemetry.log_level",
  STS_OTEL_EXPORTER: "telemetry.exporter",
  STS_OTLP_ENDPOINT: "telemetry.otlp_endpoint",
} as const;

/**
 * Secrets the file may not hold: the file is a ConfigMap in a cluster, readable
 * by whoever reads the namespace's config, and lands in backups and diffs.
 * Each comes from its environment variable or from a file named in the config.
 */
const ENV_ONLY_SECRETS = [
  { section: "nats", field: "password", env: "STS_NATS_PASSWORD" },
  { section: "nats", field: "token", env: "STS_NATS_TOKEN" },
] as const;

function inlineSecrets(doc: Record<string, unknown>): string[] {
  const problems = ENV_ONLY_SECRETS.filter(({ section, field }) => {
    const node = doc[section];
    return typeof node === "object" && node !== null && field in node;
  }).map(({ section, field, env }) => `${section}.${field}: not taken from the config file (a secret): set ${env} or ${section}.${field}_file`);
  return [...problems, ...inlineIntrospectionSecrets(doc)];
}

/** The secret the exchanger presents at a trusted issuer's introspection endpoint, likewise never in the file. */
function inlineIntrospectionSecrets(doc: Record<string, unknown>): string[] {
  const exchange = doc.exchange as { trusted_issuers?: unknown } | null | undefined;
  const list = typeof exchange === "object" && exchange !== null ? exchange.trusted_issuers : undefined;
  if (!Array.isArray(list)) return [];
  return list.flatMap((t: unknown, i) => {
    const introspection = typeof t === "object" && t !== null ? (t as { introspection?: unknown }).introspection : undefined;
    if (typeof introspection !== "object" || introspection === null || !("client_secret" in introspection)) return [];
    const at = `exchange.trusted_issuers[${i}].introspection`;
    return [`${at}.client_secret: not taken from the config file (a secret): set ${at}.client_secret_file or client_secret_env`];
  });
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = value;
}

/** Validates an already-parsed document (plus env overrides, and SPIFFE_ENDPOINT_SOCKET) into StsConfig. */
export function parseConfig(raw: unknown, env: Readonly<Record<string, string | undefined>> = {}, source = "config"): StsConfig {
  const doc: Record<string, unknown> = raw === null || raw === undefined ? {} : (raw as Record<string, unknown>);
  if (typeof doc !== "object" || Array.isArray(doc)) throw new ConfigError(source, ["(top level): expected a mapping"]);
  const inline = inlineSecrets(doc);
  if (inline.length > 0) throw new ConfigError(source, inline);
  const merged = structuredClone(doc);
  const unreadable: string[] = [];
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    if (!/port$/.test(path)) setPath(merged, path, value);
    // Number() would read " " as 0 (a port picked at random: nothing could dial it) and "0x1f90" as 8080.
    else if (/^\d{1,5}$/.test(value)) setPath(merged, path, Number(value));
    else unreadable.push(`${name}: expected a port number in decimal digits (it overrides ${path})`);
  }
  if (unreadable.length > 0) throw new ConfigError(source, unreadable);
  const result = configSchema.safeParse(merged);
  if (!result.success) throw new ConfigError(source, result.error.issues.flatMap(describe));
  const problems = crossCheck(result.data);
  const tls = result.data.grpc_tls;
  if (tls && "workload_api" in tls) {
    // As for a sidecar's tls: each service dials the agent of its own pod, which SPIRE names in SPIFFE_ENDPOINT_SOCKET.
    const resolved = resolveWorkloadApiSocket(tls.workload_api.socket, env, "grpc_tls.workload_api");
    if ("problem" in resolved) problems.push(resolved.problem);
    else tls.workload_api.socket = resolved.socket;
  }
  if (problems.length > 0) throw new ConfigError(source, problems);
  return result.data;
}

/** "list[i].field: duplicates list[j]" for each value seen before. */
function duplicated(values: readonly string[], list: string, field: string): string[] {
  const seen = new Map<string, number>();
  const problems: string[] = [];
  values.forEach((v, i) => {
    const first = seen.get(v);
    if (first !== undefined) problems.push(`${list}[${i}].${field}: duplicates ${list}[${first}]`);
    else seen.set(v, i);
  });
  return problems;
}

/** Rules spanning several fields. */
function crossCheck(config: StsConfig): string[] {
  const problems = [
    ...duplicated(
      config.clients.map((c) => c.client_id),
      "clients",
      "client_id",
    ),
    ...duplicated(
      config.exchange.trusted_issuers.map((t) => t.issuer),
      "exchange.trusted_issuers",
      "issuer",
    ),
  ];
  // A pin needs the caller's certificate, which servers only ask for in mutual TLS.
  if (config.grpc_tls?.spiffe_ids?.exchanger && !config.grpc_tls.require_client_cert) {
    problems.push("grpc_tls.require_client_cert: must stay true while spiffe_ids.exchanger pins Mint and Decide to the exchanger's certificate");
  }
  config.exchange.trusted_issuers.forEach((t, i) => {
    // Our own tokens follow our profile and revocations; they must never take the foreign path.
    if (t.issuer === config.issuer) problems.push(`exchange.trusted_issuers[${i}].issuer: is this stack's own issuer`);
    // Without a claim only access tokens carry, a typ other than at+jwt lets the provider's ID tokens pass as access tokens.
    const loose = t.typ.some((typ) => typ.toLowerCase().replace(/^application\//, "") !== "at+jwt");
    if (loose && Object.keys(t.claims).length === 0) {
      problems.push(`exchange.trusted_issuers[${i}].claims: needed when typ lists more than at+jwt, so that ID tokens cannot pass as access tokens`);
    }
  });
  config.clients.forEach((c, i) => {
    // Clients and users share the `sub` namespace: a client named like a user would get tokens that read as that user's.
    if (Object.hasOwn(config.users, c.client_id)) problems.push(`clients[${i}].client_id: is also a user in users`);
  });
  config.clients.forEach((c, i) => {
    if (!c.admin_client_id) return;
    const admin = config.clients.find((a) => a.client_id === c.admin_client_id);
    if (!admin || !admin.admin) problems.push(`clients[${i}].admin_client_id: no admin client with this id`);
  });
  return problems;
}

/** Reads and validates a YAML config file; throws ConfigError naming each bad field. */
export function loadConfig(file: string | undefined, env: Readonly<Record<string, string | undefined>> = {}): StsConfig {
  if (!file) return parseConfig({}, env, "(defaults)");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, [`cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => `line ${e.linePos?.[0]?.line ?? "?"}: ${e.message.split("\n")[0] ?? e.code}`),
    );
  }
  return parseConfig(doc.toJS(), env, file);
}
