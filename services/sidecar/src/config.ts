/** The sidecar's settings: the only module of the service that reads process.env. */
import { loadConfig } from "@sts/config";
import type { StsConfig } from "@sts/config";

/** One workload's sidecar configuration. */
export type SidecarConfig = StsConfig["sidecars"][string];

/** Reads the config file, picks this sidecar's entry (STS_SIDECAR) and the workload's secret. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): { config: StsConfig; workload: string; sidecar: SidecarConfig; secret: string } {
  const config = loadConfig(env.STS_CONFIG, env);
  const workload = env.STS_SIDECAR ?? "";
  const sidecar = config.sidecars[workload];
  if (!sidecar) throw new Error(`STS_SIDECAR must name an entry of sidecars in the config (got "${workload}")`);
  const secret = env.STS_SIDECAR_CLIENT_SECRET;
  if (!secret) throw new Error("STS_SIDECAR_CLIENT_SECRET is required: the sidecar exchanges tokens as its workload's client");
  return { config, workload, sidecar, secret };
}
