/** The exchanger's settings: the only module of the service that reads process.env. */
import { basicAuthorization } from "@sts/client-auth";
import { loadConfig, serviceClock } from "@sts/config";
import type { StsConfig } from "@sts/config";
import type { TrustedIssuerConfig } from "./trusted-issuers.js";

/** Everything the exchanger needs to start. */
export interface ExchangerSettings {
  config: StsConfig;
  /** `Basic ...` credentials of the exchanger's internal client, for the issuer's Mint. */
  internalAuthorization: string;
  /** Seconds since epoch; STS_CLOCK_OFFSET shifts it in tests. */
  now: () => number;
  /** Milliseconds since epoch on the same clock as `now`. */
  nowMs: () => number;
  /** exchange.trusted_issuers, with each introspection secret resolved to its value (from the environment) or its file. */
  trustedIssuers: TrustedIssuerConfig[];
}

/** The trusted issuers, each introspection client secret taken from the variable its config names (which must be set). */
export function trustedIssuersOf(config: StsConfig, env: NodeJS.ProcessEnv): TrustedIssuerConfig[] {
  return config.exchange.trusted_issuers.map((t, i) => {
    const { introspection, ...rest } = t;
    if (!introspection) return rest;
    const { client_secret_file: file, client_secret_env: name, ...settings } = introspection;
    if (file !== undefined) return { ...rest, introspection: { ...settings, client_secret: { file } } };
    const value = name === undefined ? undefined : env[name];
    if (!value) throw new Error(`exchange.trusted_issuers[${i}].introspection.client_secret_env: ${name ?? "(none)"} is not set`);
    return { ...rest, introspection: { ...settings, client_secret: { value } } };
  });
}

/** Reads the config file (STS_CONFIG), env overrides and the internal client secret. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): ExchangerSettings {
  const config = loadConfig(env.STS_CONFIG, env);
  const secret = env.STS_EXCHANGER_CLIENT_SECRET;
  if (!secret) throw new Error("STS_EXCHANGER_CLIENT_SECRET is required: the exchanger authenticates to the issuer's Mint with it");
  const id = config.exchange.client_id;
  return {
    config,
    internalAuthorization: basicAuthorization(id, secret),
    ...serviceClock(env),
    trustedIssuers: trustedIssuersOf(config, env),
  };
}
