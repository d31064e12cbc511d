/**
 * The SPIFFE Workload API as a source of TLS material: one FetchX509SVID
 * stream from the local agent (SPIRE), which sends the workload's X.509-SVID
 * and again at each rotation, so that no helper has to write PEM files.
 *
 * Each response's default SVID is checked as PEM files are; one that fails is
 * refused and the SVID in use stays. A stream that fails or ends is opened
 * again after a bounded exponential backoff, except when the agent says the
 * client is at fault (SPIFFE Workload Endpoint, appendix A: do not retry).
 */
import * as grpc from "@grpc/grpc-js";
import { loadWorkloadApiProto } from "@sts/proto";
import type { SpiffeWorkloadAPIClient, X509SVIDResponse__Output } from "@sts/proto";
import { svidMaterial } from "./svid-material.js";
import type { X509Svid } from "./svid-material.js";
import { nextRotation } from "./tls-material.js";
import type { ReloadListener } from "./tls-material.js";

/** Delays between attempts to open the stream: doubled per failure from `initialMs` up to `maxMs`, jittered. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** One second, then doubling to half a minute: an agent restart is over in seconds, and a missing one is not hammered. */
export const DEFAULT_WORKLOAD_API_BACKOFF: Backoff = { initialMs: 1000, maxMs: 30_000 };

/** A failed or ended stream: why, and when it is opened again (never, without `retryInMs`). */
export interface StreamFailure {
  reason: string;
  retryInMs?: number;
}

/** Options of {@link watchX509Svid}. */
export interface WatchX509SvidOptions {
  /** The agent's socket, `unix:///path` (a checked SPIFFE_ENDPOINT_SOCKET). */
  socket: string;
  /** Where the source is configured, for messages (`sidecars.svc-a.tls.workload_api`). */
  section: string;
  /** Takes each new SVID that passed the checks, the first included. */
  onSvid: (svid: X509Svid) => void;
  /** Each response that changed the SVID: applied, or refused (and why; the SVID in use stays). */
  onReload?: ReloadListener;
  /** Each failed or ended stream. */
  onStreamFailure?: (failure: StreamFailure) => void;
  backoff?: Backoff;
}

// SPIFFE Workload Endpoint §3: every call carries this, so that an SSRF cannot reach the agent through us.
const SECURITY_HEADER = "workload.spiffe.io";

// Codes by which the agent blames the request itself; appendix A says report them and do not retry.
const CLIENT_AT_FAULT: ReadonlySet<grpc.status> = new Set([grpc.status.INVALID_ARGUMENT, grpc.status.UNIMPLEMENTED]);

/** What a failed stream's status means to an operator. */
function describeStatus(status: grpc.StatusObject): string {
  const name = grpc.status[status.code] ?? String(status.code);
  if (status.code === grpc.status.PERMISSION_DENIED) return `the agent has no identity for this workload (yet) (${name}: ${status.details})`;
  if (status.code === grpc.status.OK) return "the agent ended the stream";
  return `${name}: ${status.details}`;
}

/**
 * Opens the FetchX509SVID stream on `socket` and hands on the default SVID of each response that passes the checks.
 * The timers do not keep the process alive; the function returned closes the stream and stops.
 */
export function watchX509Svid(options: WatchX509SvidOptions): () => void {
  const { socket, section, onSvid, onReload = () => undefined, onStreamFailure = () => undefined } = options;
  const { initialMs, maxMs } = options.backoff ?? DEFAULT_WORKLOAD_API_BACKOFF;
  const Client = loadWorkloadApiProto().SpiffeWorkloadAPI;
  let stopped = false;
  let failures = 0;
  let current: X509Svid | undefined;
  let client: SpiffeWorkloadAPIClient | undefined;
  let call: grpc.ClientReadableStream<X509SVIDResponse__Output> | undefined;
  let retry: NodeJS.Timeout | undefined;

  const receive = (response: X509SVIDResponse__Output): void => {
    failures = 0;
    const first = response.svids[0];
    if (!first) {
      onReload({ applied: false, reason: `${section}: a response without any SVID` });
      return;
    }
    // The agent also sends when something else in the response changes (another SVID, a federated bundle): no rotation of ours.
    const next = nextRotation(
      () => svidMaterial(first, section),
      (svid) => svid.material,
      current?.material,
      onReload,
    );
    if (!next) return;
    current = next;
    onSvid(next);
    onReload({ applied: true });
  };

  const ended = (status: grpc.StatusObject): void => {
    client?.close();
    client = undefined;
    call = undefined;
    if (stopped) return;
    if (CLIENT_AT_FAULT.has(status.code)) {
      onStreamFailure({ reason: describeStatus(status) });
      return;
    }
    const ceiling = Math.min(maxMs, initialMs * 2 ** failures);
    failures++;
    // Half fixed, half random: sidecars restarted together do not all call the agent at the same instant.
    const retryInMs = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    onStreamFailure({ reason: describeStatus(status), retryInMs });
    retry = setTimeout(open, retryInMs).unref();
  };

  function open(): void {
    retry = undefined;
    // A fresh channel per attempt: grpc-js's own reconnect backoff would otherwise add to ours.
    client = new Client(socket, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set(SECURITY_HEADER, "true");
    call = client.FetchX509SVID({}, metadata);
    call.on("data", receive);
    // Every end, error or not, also arrives as a status: that is where it is handled.
    call.on("error", () => undefined);
    call.on("status", ended);
  }

  open();
  return () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    call?.cancel();
    client?.close();
  };
}

/** Options of {@link X509SvidSource.open}. */
export interface X509SvidSourceOptions extends Omit<WatchX509SvidOptions, "onSvid"> {
  /** How long to wait for the first SVID before giving up. */
  startupTimeoutMs: number;
}

/** The workload's X.509-SVID, kept current from the Workload API. */
export class X509SvidSource {
  #current: X509Svid;
  #onRotate: (svid: X509Svid) => void = () => undefined;
  readonly #stop: () => void;

  private constructor(first: X509Svid, stop: () => void) {
    this.#current = first;
    this.#stop = stop;
  }

  /**
   * Resolves once the first SVID that passes the checks has arrived. Rejects, and stops, when none has within
   * `startupTimeoutMs` (naming the socket and the last failure), or when the agent blames the request.
   */
  static open(options: X509SvidSourceOptions): Promise<X509SvidSource> {
    const { startupTimeoutMs, section, socket, onStreamFailure, onReload } = options;
    return new Promise((resolve, reject) => {
      let source: X509SvidSource | undefined;
      let lastProblem: string | undefined;
      const fail = (why: string): void => {
        clearTimeout(timer);
        stop();
        reject(new Error(`${section}: no X.509-SVID from ${socket} ${why}`));
      };
      const timer = setTimeout(() => fail(`within ${startupTimeoutMs / 1000} s (${lastProblem ?? "no answer"})`), startupTimeoutMs);
      const stop = watchX509Svid({
        ...options,
        onSvid: (svid) => {
          if (source) {
            source.#current = svid;
            source.#onRotate(svid);
            return;
          }
          clearTimeout(timer);
          source = new X509SvidSource(svid, () => stop());
          resolve(source);
        },
        onReload: (event) => {
          if (!event.applied) lastProblem = event.reason;
          onReload?.(event);
        },
        onStreamFailure: (failure) => {
          lastProblem = failure.reason;
          onStreamFailure?.(failure);
          if (!source && failure.retryInMs === undefined) fail(`(${failure.reason})`);
        },
      });
    });
  }

  /** The SVID in use. */
  get current(): X509Svid {
    return this.#current;
  }

  /** Sets what takes each rotated SVID (one listener: the sidecar's TLS). */
  onRotate(listener: (svid: X509Svid) => void): void {
    this.#onRotate = listener;
  }

  /** Closes the stream. */
  stop(): void {
    this.#stop();
  }
}
