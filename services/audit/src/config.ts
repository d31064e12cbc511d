/** The audit service's settings: the only module of the service that reads process.env. */
import { breakGlassSecret, loadConfig, serviceClock } from "@sts/config";
import type { StsConfig } from "@sts/config";

/** Everything the audit service needs to start. */
export interface AuditSettings {
  config: StsConfig;
  /**
   * The shared break-glass credential (STS_AUDIT_TOKEN): accepted beside
   * auditors' access tokens, and recorded as such. Unset, a call with no
   * credential is refused, or answered (and recorded) as anonymous with
   * `audit.allow_anonymous`. One no caller could present (a line break,
   * non-ASCII) stops the start.
   */
  breakGlassToken: string | undefined;
  /** Seconds since epoch; STS_CLOCK_OFFSET shifts it in tests. */
  now: () => number;
}

/** Reads the config file (STS_CONFIG), env overrides and the break-glass credential (STS_AUDIT_TOKEN). */
export function readSettings(env: NodeJS.ProcessEnv = process.env): AuditSettings {
  return {
    config: loadConfig(env.STS_CONFIG, env),
    breakGlassToken: breakGlassSecret(env, "STS_AUDIT_TOKEN"),
    now: serviceClock(env).now,
  };
}
