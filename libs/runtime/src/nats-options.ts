/** The connectNats options of a service, from the config's `nats` section. */
import type { NatsConfig } from "@sts/config";
import type { NatsAuth, NatsOptions } from "@sts/nats";

/** The credentials of the `nats` section (validated to name one way at most). */
function natsAuth(nats: NatsConfig): NatsAuth | undefined {
  if (nats.creds_file !== undefined) return { kind: "creds", file: nats.creds_file };
  if (nats.nkey_seed_file !== undefined) return { kind: "nkey", seedFile: nats.nkey_seed_file };
  if (nats.user !== undefined) {
    return { kind: "user", user: nats.user, password: nats.password_file !== undefined ? { file: nats.password_file } : { value: nats.password ?? "" } };
  }
  if (nats.token_file !== undefined) return { kind: "token", token: { file: nats.token_file } };
  if (nats.token !== undefined) return { kind: "token", token: { value: nats.token } };
  return undefined;
}

/** connectNats options (no logger) for service `name` (e.g. "issuer"). */
export function natsOptionsOf(name: string, nats: NatsConfig): NatsOptions {
  const auth = natsAuth(nats);
  const tls = nats.tls;
  return {
    servers: (nats.url ?? "nats://127.0.0.1:4222").split(",").map((s) => s.trim()),
    name: `sts-${name}`,
    ...(auth && { auth }),
    ...(tls && { tls: { caFile: tls.ca_file, ...(tls.cert_file && { certFile: tls.cert_file }), ...(tls.key_file && { keyFile: tls.key_file }) } }),
    // Each service's replies under its own prefix, which its NATS user alone may subscribe to (deploy/k8s/nats/permissions.conf).
    inboxPrefix: `_INBOX.${name}`,
  };
}
