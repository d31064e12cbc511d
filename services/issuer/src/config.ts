/** The issuer's settings: the only module of the service that reads process.env. */
import { readFileSync } from "node:fs";
import { clientSchema, loadConfig, serviceClock } from "@sts/config";
import type { StsConfig } from "@sts/config";
import { checkOwnerOnlyWrites, parseMasterKey } from "@sts/keys";

/** Everything the issuer needs to start. */
export interface IssuerSettings {
  config: StsConfig;
  /** Derived key for sealing private keys; undefined when a JWK file is used. */
  masterKey: Buffer | undefined;
  /** Derived keys of the master key being replaced (STS_MASTER_KEY_PREVIOUS): they open keys, which are then sealed again under masterKey. */
  previousMasterKeys: Buffer[];
  /** Seconds since epoch; STS_CLOCK_OFFSET shifts it in tests. */
  now: () => number;
}

/** Reads the config file (STS_CONFIG), env overrides and the master key. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): IssuerSettings {
  const config = loadConfig(env.STS_CONFIG, env);
  const masterKey = readMasterKey(env, "STS_MASTER_KEY", "the master key new signing keys are sealed with");
  if (!masterKey && !config.keys.jwk_file) {
    throw new Error("no master key: set STS_MASTER_KEY or STS_MASTER_KEY_FILE (32+ random bytes, hex, base64url or base64), or keys.jwk_file");
  }
  const previousMasterKey = readMasterKey(env, "STS_MASTER_KEY_PREVIOUS", "the master key being replaced");
  if (previousMasterKey && !masterKey) {
    throw new Error("STS_MASTER_KEY_PREVIOUS replaces a master key: it needs the new one in STS_MASTER_KEY or STS_MASTER_KEY_FILE");
  }
  // The exchanger's credentials for Mint come from the environment (never the file):
  // the local runner generates them, a deployment takes them from a secret.
  const internalSecret = env.STS_EXCHANGER_CLIENT_SECRET;
  if (internalSecret) {
    const id = config.exchange.client_id;
    config.clients = [
      ...config.clients.filter((c) => c.client_id !== id),
      clientSchema.parse({ client_id: id, client_secret: internalSecret, internal: true }),
    ];
  }
  return {
    config,
    masterKey,
    previousMasterKeys: previousMasterKey ? [previousMasterKey] : [],
    now: serviceClock(env).now,
  };
}

/**
 * A master key from `<name>` or the file `<name>_FILE` (writable by its owner only), derived; undefined when neither is
 * set. A key that does not parse is refused naming where it came from, never quoting it.
 */
function readMasterKey(env: NodeJS.ProcessEnv, name: string, role: string): Buffer | undefined {
  const file = env[`${name}_FILE`];
  let text = env[name];
  let source = name;
  if (!text && file) {
    checkOwnerOnlyWrites(file, role);
    text = readFileSync(file, "utf8");
    source = `${name}_FILE ${file}`;
  }
  if (!text) return undefined;
  try {
    return parseMasterKey(text);
  } catch (err) {
    throw new Error(`${source}: ${err instanceof Error ? err.message : "not a master key"}`);
  }
}
