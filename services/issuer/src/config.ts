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
  /** Seconds since epoch; STS_CLOCK_OFFSET shifts it in tests. */
  now: () => number;
}

/** Reads the config file (STS_CONFIG), env overrides and the master key. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): IssuerSettings {
  const config = loadConfig(env.STS_CONFIG, env);
  let masterText = env.STS_MASTER_KEY;
  if (!masterText && env.STS_MASTER_KEY_FILE) {
    checkOwnerOnlyWrites(env.STS_MASTER_KEY_FILE, "the master key new signing keys are sealed with");
    masterText = readFileSync(env.STS_MASTER_KEY_FILE, "utf8");
  }
  if (!masterText && !config.keys.jwk_file) {
    throw new Error("no master key: set STS_MASTER_KEY or STS_MASTER_KEY_FILE (32+ random bytes, hex, base64url or base64), or keys.jwk_file");
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
    masterKey: masterText ? parseMasterKey(masterText) : undefined,
    now: serviceClock(env).now,
  };
}
