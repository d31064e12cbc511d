/**
 * The stack's gRPC credentials from whichever source `grpc_tls` names: PEM
 * files (tls.ts), or the SPIFFE Workload API, whose agent pushes each rotated
 * X.509-SVID so that SPIRE users need no helper writing files. Either way one
 * certificate provider feeds grpc-js, so a rotation reaches the servers and
 * the channels without a restart; connections already open keep their set.
 */
import type { Logger } from "@sts/telemetry";
import type { X509Svid } from "./svid-material.js";
import { MaterialProvider, grpcCredentials, logReloads, providerCredentials } from "./tls.js";
import type { GrpcCredentials, GrpcTlsFiles, GrpcTlsRules } from "./tls.js";
import { X509SvidSource } from "./workload-api.js";
import type { X509SvidSourceOptions } from "./workload-api.js";

/** The `grpc_tls` section with the material from the SPIFFE Workload API. */
export interface GrpcTlsWorkloadApi extends GrpcTlsRules {
  /** The agent's socket (config loading fills it from SPIFFE_ENDPOINT_SOCKET when the file names none), and how long to wait for the first SVID, in seconds. */
  workload_api: { socket?: string | undefined; startup_timeout: number };
}

/** The `grpc_tls` section of the config file: the files, or the Workload API. */
export type GrpcTlsConfig = GrpcTlsFiles | GrpcTlsWorkloadApi;

const SECTION = "grpc_tls.workload_api";

/** What a service logs of its Workload API stream: refused SVIDs, redactions, lost streams. Never key material. */
function logSvidEvents(logger: Logger): Pick<X509SvidSourceOptions, "onReload" | "onRedacted" | "onStreamFailure"> {
  return {
    onReload: ({ applied, reason }) => {
      if (!applied) logger.warn({ reason }, `${SECTION}: X.509-SVID refused; the one in use stays`);
    },
    onRedacted: (reason) => logger.warn({ reason }, `${SECTION}: X.509-SVID redacted by the agent; no gRPC connection is accepted or dialled until the next`),
    onStreamFailure: ({ reason, retryInMs }) =>
      retryInMs === undefined
        ? logger.error({ reason }, `${SECTION}: the agent refused the stream for good; the X.509-SVID in use is no longer renewed`)
        : logger.warn({ reason, retry_in_ms: retryInMs }, `${SECTION}: stream to the agent lost; opening it again`),
  };
}

/**
 * The credentials `grpc_tls` describes: plaintext without it; the files, as {@link grpcCredentials} reads them; or the
 * Workload API once it has sent an X.509-SVID that passes the checks, failing after workload_api.startup_timeout with
 * a message naming grpc_tls.workload_api. Logs file reloads, and each SVID applied (its SPIFFE ID and not_after) or
 * refused. The caller closes the credentials at shutdown, which closes the stream.
 */
export async function openGrpcCredentials(tls: GrpcTlsConfig | undefined, logger: Logger): Promise<GrpcCredentials> {
  if (!tls || !("workload_api" in tls)) return grpcCredentials(tls, logReloads(logger));
  const { socket, startup_timeout } = tls.workload_api;
  if (socket === undefined) throw new TypeError(`${SECTION}.socket: not resolved (loadConfig fills it from SPIFFE_ENDPOINT_SOCKET)`);
  const source = await X509SvidSource.open({ socket, section: SECTION, startupTimeoutMs: startup_timeout * 1000, ...logSvidEvents(logger) }).catch(
    (err: unknown) => {
      throw new Error(`${(err as Error).message}; without an identity the service does not start`, { cause: err });
    },
  );
  const first = source.current;
  // open() resolves with an SVID held, and no redaction can come between that and this.
  if (!first) throw new TypeError(`${SECTION}: the source holds no X.509-SVID`);
  const applied = ({ spiffeId, notAfter }: X509Svid): void =>
    logger.info({ spiffe_id: spiffeId, not_after: notAfter.toISOString() }, `${SECTION}: X.509-SVID applied`);
  applied(first);
  const provider = new MaterialProvider(first.material);
  source.onChange((svid) => {
    if (!svid) {
      // SPIFFE Workload API §5.2.1: a redacted SVID must no longer be used, not even until it expires.
      provider.withdraw();
      return;
    }
    applied(svid);
    provider.apply(svid.material);
  });
  return providerCredentials(provider, tls, () => source.stop());
}
