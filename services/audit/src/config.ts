/** The audit service's settings: the only module of the service that reads process.env. */
import { loadConfig } from "@sts/config";
import type { StsConfig } from "@sts/config";

/** Reads the config file (STS_CONFIG), env overrides and the auditors' credential (STS_AUDIT_TOKEN). */
export function readSettings(env: NodeJS.ProcessEnv = process.env): { config: StsConfig; auditToken: string | undefined } {
  return { config: loadConfig(env.STS_CONFIG, env), auditToken: env.STS_AUDIT_TOKEN || undefined };
}
