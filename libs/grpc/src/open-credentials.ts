/**
 * The stack's gRPC credentials from whichever source `grpc_tls` names: PEM
 * files (tls.ts), or the SPIFFE Workload API, whose agent pushes each rotated
 * X.509-SVID so that SPIRE users need no helper writing files. Either way one
 * certificate provider feeds grpc-js, so a rotation reaches the servers and
 * the channels without a restart; connections already open keep their set.
 *
 * An SVID the agent redacts, or one that passes its notAfter before the next
 * arrives (the stream stopped for good, the agent down longer than the SVID
 * lives), withdraws the identity: servers report NOT_SERVING and close their
 * connections, clients fail their calls and close theirs (startGrpcServer,
 * createClient), until the agent sends a new SVID.
 */
import type { Logger } from "@sts/telemetry";
import { HeldSvid } from "./held-svid.js";
import type { X509Svid } from "./svid-material.js";
import { MaterialProvider, grpcCredentials, logReloads, providerCredentials } from "./tls.js";
import type { GrpcCredentials, GrpcTlsFiles, GrpcTlsRules } from "./tls.js";
import { logSvidEvents } from "./workload-api.js";
import type { X509SvidStreams } from "./workload-api.js";

/** The `grpc_tls` section with the material from the SPIFFE Workload API. */
export interface GrpcTlsWorkloadApi extends GrpcTlsRules {
  /** The agent's socket (config loading fills it from SPIFFE_ENDPOINT_SOCKET when the file names none), and how long to wait for the first SVID, in seconds. */
  workload_api: { socket?: string | undefined; startup_timeout: number };
}

/** The `grpc_tls` section of the config file: the files, or the Workload API. */
export type GrpcTlsConfig = GrpcTlsFiles | GrpcTlsWorkloadApi;

const SECTION = "grpc_tls.workload_api";

/** What a withdrawn identity means to a service of the stack (startGrpcServer, createClient, the gateway), for its log. */
const WITHDRAWN =
  "the service reports NOT_SERVING (not ready), its open gRPC connections are closed and their calls fail, and none is accepted or dialled until the next";

/**
 * The credentials `grpc_tls` describes: plaintext without it; the files, as {@link grpcCredentials} reads them; or the
 * Workload API once it has sent an X.509-SVID that passes the checks, failing after workload_api.startup_timeout with
 * a message naming grpc_tls.workload_api. With `streams`, the Workload API stream is the one other sections of the
 * process on the same socket follow. Logs file reloads, and each SVID applied (its SPIFFE ID and not_after) or
 * refused. The caller closes the credentials at shutdown, which closes the stream (once nothing else follows it).
 */
export async function openGrpcCredentials(tls: GrpcTlsConfig | undefined, logger: Logger, streams?: X509SvidStreams): Promise<GrpcCredentials> {
  if (!tls || !("workload_api" in tls)) return grpcCredentials(tls, logReloads(logger));
  const { socket, startup_timeout } = tls.workload_api;
  if (socket === undefined) throw new TypeError(`${SECTION}.socket: not resolved (loadConfig fills it from SPIFFE_ENDPOINT_SOCKET)`);
  const events = logSvidEvents(logger, SECTION, {
    withdrawn: WITHDRAWN,
    refusedForGood: "the X.509-SVID in use is no longer renewed, and is withdrawn when it expires",
  });
  const options = { socket, section: SECTION, startupTimeoutMs: startup_timeout * 1000, streams, ...events };
  const svid = await HeldSvid.open(options, "without an identity the service does not start");
  const provider = new MaterialProvider(svid.first.material);
  const logApplied = ({ spiffeId, notAfter, material }: X509Svid, previous?: X509Svid): void => {
    // The agent also sends when only the bundle changed: the same SVID, other CAs to trust.
    if (previous && previous.material.cert.equals(material.cert) && previous.material.key.equals(material.key)) {
      logger.info({ spiffe_id: spiffeId }, `${SECTION}: trust bundle updated`);
    } else logger.info({ spiffe_id: spiffeId, not_after: notAfter.toISOString() }, `${SECTION}: X.509-SVID applied`);
  };
  logApplied(svid.first);
  svid.follow({
    applied: (next, previous) => {
      provider.apply(next.material);
      logApplied(next, previous);
    },
    redacted: () => provider.withdraw(),
    expired: ({ notAfter }) => {
      logger.error({ not_after: notAfter.toISOString() }, `${SECTION}: X.509-SVID expired with no new one from the agent; ${WITHDRAWN}`);
      provider.withdraw();
    },
  });
  return providerCredentials(provider, tls, {
    withdrawable: true,
    // Refused for good (SPIFFE Workload Endpoint, appendix A): once the SVID in use is withdrawn or expires, only a restart helps.
    renewable: () => svid.renewable(),
    close: () => svid.close(),
  });
}
