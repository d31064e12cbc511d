/** The exchanger's settings: the only module of the service that reads process.env. */
import { loadConfig } from "@sts/config";
import type { StsConfig } from "@sts/config";

/** Everything the exchanger needs to start. */
export interface ExchangerSettings {
  config: StsConfig;
  /** `Basic ...` credentials of the exchanger's internal client, for the issuer's Mint. */
  internalAuthorization: string;
  /** Seconds since epoch; STS_CLOCK_OFFSET shifts it in tests. */
  now: () => number;
}

/** Reads the config file (STS_CONFIG), env overrides and the internal client secret. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): ExchangerSettings {
  const config = loadConfig(env.STS_CONFIG, env);
  const secret = env.STS_EXCHANGER_CLIENT_SECRET;
  if (!secret) throw new Error("STS_EXCHANGER_CLIENT_SECRET is required: the exchanger authenticates to the issuer's Mint with it");
  const id = config.exchange.client_id;
  const formEncode = (s: string): string => encodeURIComponent(s).replace(/%20/g, "+");
  const offset = Number(env.STS_CLOCK_OFFSET ?? 0) || 0;
  return {
    config,
    internalAuthorization: `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString("base64")}`,
    now: () => Math.floor(Date.now() / 1000) + offset,
  };
}
