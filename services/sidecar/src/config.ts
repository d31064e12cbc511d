/** The sidecar's settings: the only module of the service that reads process.env. */
import { loadConfig, resolveWorkloadApiSocket } from "@sts/config";
import type { StsConfig } from "@sts/config";

/** One workload's sidecar configuration. */
export type SidecarConfig = StsConfig["sidecars"][string];

/** Reads the config file, picks this sidecar's entry (STS_SIDECAR) and the workload's secret. */
export function readSettings(env: NodeJS.ProcessEnv = process.env): { config: StsConfig; workload: string; sidecar: SidecarConfig; secret: string } {
  const config = loadConfig(env.STS_CONFIG, env);
  const workload = env.STS_SIDECAR ?? "";
  const configured = config.sidecars[workload];
  if (!configured) throw new Error(`STS_SIDECAR must name an entry of sidecars in the config (got "${workload}")`);
  const sidecar = withEndpointSocket(configured, env, `sidecars.${workload}.tls.workload_api`);
  const secret = env.STS_SIDECAR_CLIENT_SECRET;
  if (!secret) throw new Error("STS_SIDECAR_CLIENT_SECRET is required: the sidecar exchanges tokens as its workload's client");
  return { config, workload, sidecar, secret };
}

/**
 * A `tls.workload_api` without a socket takes SPIFFE_ENDPOINT_SOCKET, as the SPIFFE Workload Endpoint specification
 * (§4) has clients do; the variable passes the check the config field does, and its absence stops the start.
 */
function withEndpointSocket(sidecar: SidecarConfig, env: NodeJS.ProcessEnv, section: string): SidecarConfig {
  const tls = sidecar.tls;
  if (!tls || !("workload_api" in tls)) return sidecar;
  const resolved = resolveWorkloadApiSocket(tls.workload_api.socket, env, section);
  if ("problem" in resolved) throw new Error(resolved.problem);
  return { ...sidecar, tls: { ...tls, workload_api: { ...tls.workload_api, socket: resolved.socket } } };
}
