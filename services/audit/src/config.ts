/** The audit service's settings: the only module of the service that reads process.env. */
import { loadConfig } from "@sts/config";
import type { StsConfig } from "@sts/config";

/** Reads the config file (STS_CONFIG) and env overrides. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): { config: StsConfig } {
  return { config: loadConfig(env.STS_CONFIG, env) };
}
