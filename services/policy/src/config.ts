/** The policy service's settings: the only module of the service that reads process.env. */
import { loadConfig } from "@sts/config";
import type { StsConfig } from "@sts/config";

/** Reads the config file (STS_CONFIG), env overrides and the operator credential. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): { config: StsConfig; adminToken: string | undefined; now: () => number } {
  const offset = Number(env.STS_CLOCK_OFFSET ?? 0) || 0;
  return { config: loadConfig(env.STS_CONFIG, env), adminToken: env.STS_POLICY_ADMIN_TOKEN || undefined, now: () => Math.floor(Date.now() / 1000) + offset };
}
