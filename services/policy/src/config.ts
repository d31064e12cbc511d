/** The policy service's settings: the only module of the service that reads process.env. */
import { breakGlassSecret, loadConfig, serviceClock } from "@sts/config";
import type { StsConfig } from "@sts/config";

/** Everything the policy service needs to start. */
export interface PolicySettings {
  config: StsConfig;
  /**
   * The shared break-glass credential (STS_POLICY_ADMIN_TOKEN): accepted for
   * every operator call beside operators' access tokens, and recorded as
   * such. Unset, only access tokens are. One no caller could present (a
   * line break, non-ASCII) stops the start.
   */
  breakGlassToken: string | undefined;
  /** Seconds since epoch; STS_CLOCK_OFFSET shifts it in tests. */
  now: () => number;
}

/** Reads the config file (STS_CONFIG), env overrides and the break-glass credential (STS_POLICY_ADMIN_TOKEN). */
export function readSettings(env: NodeJS.ProcessEnv = process.env): PolicySettings {
  return {
    config: loadConfig(env.STS_CONFIG, env),
    breakGlassToken: breakGlassSecret(env, "STS_POLICY_ADMIN_TOKEN"),
    now: serviceClock(env).now,
  };
}
