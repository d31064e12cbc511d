/**
 * nats-server configuration files for tests: users with per-user
 * permissions, TLS (mutual when asked), and config files to include, such as
 * the least-privilege permissions of deploy/k8s/nats.
 */
import { writeFileSync } from "node:fs";
import { join, relative } from "node:path";

/** Subjects a user may publish to and subscribe to (nats-server `allow` lists). */
export interface NatsPermissions {
  publish?: string[];
  subscribe?: string[];
}

/** A user of the server's `authorization` block: a name and password, or an nkey (public key, `U...`). */
export type NatsUser = ({ user: string; password: string } | { nkey: string }) & {
  /** Its permissions: allow lists, or a variable an included file defines (`$STS_SIDECAR`); absent, every subject. */
  permissions?: NatsPermissions | `$${string}`;
};

/** What the generated config holds. */
export interface NatsServerConfig {
  /** Users the server requires one of (authorization { users }). */
  users?: NatsUser[];
  /** A token the server requires instead of users (authorization { token }). */
  token?: string;
  /** TLS required from every client, with this certificate; `verify` also asks clients for one from ca_file (mutual TLS). */
  tls?: { cert_file: string; key_file: string; ca_file: string; verify?: boolean };
  /** nats-server config files included first, by absolute path. */
  include?: string[];
}

// nats-server reads quoted strings with JSON's escapes; unquoted values would be parsed (a password "1k" becomes 1000).
const quote = (s: string): string => JSON.stringify(s);
const list = (items: string[]): string => `[${items.map(quote).join(", ")}]`;

function permissionsOf(p: NatsUser["permissions"]): string {
  if (p === undefined) return "";
  if (typeof p === "string") return `, permissions: ${p}`;
  const parts = [p.publish && `publish: { allow: ${list(p.publish)} }`, p.subscribe && `subscribe: { allow: ${list(p.subscribe)} }`].filter(Boolean);
  return `, permissions: { ${parts.join(", ")} }`;
}

/** Writes `nats-server.conf` into `dir` and returns its path. */
export function natsServerConfig(dir: string, config: NatsServerConfig): string {
  const lines: string[] = [];
  // nats-server resolves an include against the including file's folder, even an absolute path.
  for (const file of config.include ?? []) lines.push(`include ${quote(relative(dir, file))}`);
  if (config.tls) {
    const { cert_file, key_file, ca_file, verify } = config.tls;
    // A generous handshake timeout: a loaded test machine starts many clients at once.
    lines.push(`tls { cert_file: ${quote(cert_file)}, key_file: ${quote(key_file)}, ca_file: ${quote(ca_file)}, verify: ${verify === true}, timeout: 5 }`);
  }
  if (config.users) {
    const who = (u: NatsUser): string => ("nkey" in u ? `nkey: ${quote(u.nkey)}` : `user: ${quote(u.user)}, password: ${quote(u.password)}`);
    lines.push("authorization {", "  users: [", ...config.users.map((u) => `    { ${who(u)}${permissionsOf(u.permissions)} }`), "  ]", "}");
  }
  if (config.token !== undefined) lines.push(`authorization { token: ${quote(config.token)} }`);
  const file = join(dir, "nats-server.conf");
  writeFileSync(file, `${lines.join("\n")}\n`, { mode: 0o600 });
  return file;
}
