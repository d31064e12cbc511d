/**
 * The SPIFFE Workload API as a source of TLS material: one FetchX509SVID
 * stream from the local agent (SPIRE), which sends the workload's X.509-SVID
 * and again at each rotation, so that no helper has to write PEM files.
 *
 * Each response's default SVID is checked as PEM files are; one that fails is
 * refused and the SVID in use stays. An SVID the agent withdraws (the stream
 * ended with PERMISSION_DENIED, or a response without it) is dropped, not kept
 * until it expires (SPIFFE Workload API §5.2.1). A stream that fails or ends is
 * opened again after a bounded exponential backoff, except when the agent says
 * the client is at fault (SPIFFE Workload Endpoint, appendix A: do not retry).
 *
 * Sources on one socket opened with the same X509SvidStreams follow one
 * stream: the agent has one identity for the process, so two streams would
 * only hold two copies of it.
 */
import * as grpc from "@grpc/grpc-js";
import { loadWorkloadApiProto } from "@sts/proto";
import type { SpiffeWorkloadAPIClient, X509SVIDResponse__Output } from "@sts/proto";
import type { Logger } from "@sts/telemetry";
import { svidMaterial } from "./svid-material.js";
import type { X509Svid } from "./svid-material.js";
import { nextRotation } from "./tls-material.js";
import type { ReloadListener } from "./tls-material.js";

/**
 * Delays between attempts to open the stream: doubled per failure from `initialMs` up to `maxMs`, jittered; back to
 * `initialMs` only after a stream that stayed up `resetAfterMs`.
 */
export interface Backoff {
  initialMs: number;
  maxMs: number;
  resetAfterMs: number;
}

/**
 * One second, then doubling to half a minute: an agent restart is over in seconds, and a missing one is not hammered.
 * Nor is one that answers and then drops every stream: only half a minute up counts as recovered.
 */
export const DEFAULT_WORKLOAD_API_BACKOFF: Backoff = { initialMs: 1000, maxMs: 30_000, resetAfterMs: 30_000 };

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
  /**
   * The agent withdrew the SVID handed on last (why: PERMISSION_DENIED, or a response without it): it must no longer be
   * used. The next SVID that passes the checks comes to `onSvid`, even one byte for byte the same.
   */
  onRedacted?: (reason: string) => void;
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
  const { socket, section, onSvid, onReload = () => undefined, onRedacted = () => undefined, onStreamFailure = () => undefined } = options;
  const { initialMs, maxMs, resetAfterMs } = options.backoff ?? DEFAULT_WORKLOAD_API_BACKOFF;
  const Client = loadWorkloadApiProto().SpiffeWorkloadAPI;
  let stopped = false;
  let failures = 0;
  let current: X509Svid | undefined;
  let client: SpiffeWorkloadAPIClient | undefined;
  let call: grpc.ClientReadableStream<X509SVIDResponse__Output> | undefined;
  let retry: NodeJS.Timeout | undefined;
  let openedAt = 0;

  const redact = (reason: string): void => {
    if (!current) return;
    current = undefined;
    onRedacted(reason);
  };

  const receive = (response: X509SVIDResponse__Output): void => {
    const first = response.svids[0];
    if (!first) {
      // §5.2.1: an SVID missing from a response is one the agent redacts; before any, there is nothing to drop.
      if (current) redact("a response without any SVID");
      else onReload({ applied: false, reason: `${section}: a response without any SVID` });
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
    // §5.2.1: PERMISSION_DENIED redacts every SVID the stream gave, the one in use included.
    if (status.code === grpc.status.PERMISSION_DENIED) redact(`PERMISSION_DENIED: ${status.details}`);
    if (CLIENT_AT_FAULT.has(status.code)) {
      onStreamFailure({ reason: describeStatus(status) });
      return;
    }
    // Counted from the stream's opening, not its data: an agent that answers once and then drops every stream would
    // otherwise be called again every initialMs for good.
    if (Date.now() - openedAt >= resetAfterMs) failures = 0;
    const ceiling = Math.min(maxMs, initialMs * 2 ** failures);
    failures++;
    // Half fixed, half random: sidecars restarted together do not all call the agent at the same instant.
    const retryInMs = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    onStreamFailure({ reason: describeStatus(status), retryInMs });
    retry = setTimeout(open, retryInMs).unref();
  };

  function open(): void {
    retry = undefined;
    openedAt = Date.now();
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

/** What a withdrawn identity, and a stream the agent refused for good, mean to the holder: the end of its log lines. */
export interface SvidConsequences {
  withdrawn: string;
  refusedForGood: string;
}

/** The log lines of a Workload API stream under `section`: refused SVIDs, redactions, lost streams. Never key material. */
export function logSvidEvents(
  logger: Logger,
  section: string,
  { withdrawn, refusedForGood }: SvidConsequences,
): Pick<X509SvidSourceOptions, "onReload" | "onRedacted" | "onStreamFailure"> {
  return {
    onReload: ({ applied, reason }) => {
      if (!applied) logger.warn({ reason }, `${section}: X.509-SVID refused; the one in use stays`);
    },
    onRedacted: (reason) => logger.warn({ reason }, `${section}: X.509-SVID redacted by the agent; ${withdrawn}`),
    onStreamFailure: ({ reason, retryInMs }) =>
      retryInMs === undefined
        ? logger.error({ reason }, `${section}: the agent refused the stream for good; ${refusedForGood}`)
        : logger.warn({ reason, retry_in_ms: retryInMs }, `${section}: stream to the agent lost; opening it again`),
  };
}

/** Options of {@link X509SvidSource.open}. */
export interface X509SvidSourceOptions extends Omit<WatchX509SvidOptions, "onSvid"> {
  /** How long to wait for the first SVID before giving up. */
  startupTimeoutMs: number;
  /**
   * The process's streams: the source follows the one already open on `socket` (with the backoff it was opened with)
   * instead of opening another. Without them, the source has a stream of its own.
   */
  streams?: X509SvidStreams;
}

/** What a source hears of the stream it follows, each reason under the source's own section. */
interface Follower {
  section: string;
  onSvid: (svid: X509Svid) => void;
  onReload: ReloadListener;
  onRedacted: (reason: string) => void;
  onStreamFailure: (failure: StreamFailure) => void;
}

/**
 * One FetchX509SVID stream, what it holds, and the sources that follow it; closed as the last one leaves. Each SVID is
 * checked once, under the section of the source that opened the stream; every follower reads the reasons under its own.
 */
class SharedStream {
  /** The SVID handed on last; undefined before any, and once redacted. */
  current: X509Svid | undefined;
  /** Why the agent refused the stream for good, once it has. */
  stoppedBecause: string | undefined;
  /** Why the last SVID was refused or the last stream failed: what a source that joins while none is held reports if none comes. */
  lastProblem: string | undefined;
  readonly #section: string;
  readonly #followers = new Set<Follower>();
  readonly #stop: () => void;
  readonly #onClosed: () => void;

  /** Opens the stream; throws when it cannot even be opened. */
  constructor({ socket, section, backoff }: Pick<WatchX509SvidOptions, "socket" | "section" | "backoff">, onClosed: () => void) {
    this.#section = section;
    this.#onClosed = onClosed;
    // Over a copy: a follower whose start-up fails leaves while it is being told.
    const tell = (event: (follower: Follower) => void): void => [...this.#followers].forEach(event);
    this.#stop = watchX509Svid({
      socket,
      section,
      backoff,
      onSvid: (svid) => {
        this.current = svid;
        tell((f) => f.onSvid(svid));
      },
      onReload: (event) => {
        if (!event.applied) this.lastProblem = event.reason;
        tell((f) => f.onReload(event.reason === undefined ? event : { ...event, reason: this.scoped(event.reason, f.section) }));
      },
      onRedacted: (reason) => {
        this.current = undefined;
        tell((f) => f.onRedacted(reason));
      },
      onStreamFailure: (failure) => {
        this.lastProblem = failure.reason;
        if (failure.retryInMs === undefined) this.stoppedBecause = failure.reason;
        tell((f) => f.onStreamFailure(failure));
      },
    });
  }

  /** Tells `follower` every event from now on; returns how it leaves, which closes the stream after the last. */
  follow(follower: Follower): () => void {
    this.#followers.add(follower);
    return () => {
      if (!this.#followers.delete(follower) || this.#followers.size > 0) return;
      this.#stop();
      this.#onClosed();
    };
  }

  /** `reason` as a stream of its own would have worded it for the source configured at `section`. */
  scoped(reason: string, section: string): string {
    const prefix = `${this.#section}: `;
    return section !== this.#section && reason.startsWith(prefix) ? `${section}: ${reason.slice(prefix.length)}` : reason;
  }
}

/** The streams open through each X509SvidStreams, by socket: kept here rather than on it, so that only sources reach them. */
const openStreams = new WeakMap<X509SvidStreams, Map<string, SharedStream>>();

/**
 * A process's Workload API streams: the sources opened with it on one socket (X509SvidSourceOptions.streams) follow one
 * FetchX509SVID stream. The agent answers a process with its one identity, so sections that name the same socket (a
 * sidecar's grpc_tls and tls) get one SVID, rotated and redacted for all at once, rather than a stream each.
 */
export class X509SvidStreams {
  constructor() {
    openStreams.set(this, new Map());
  }
}

/** The stream on `options.socket` among `options.streams`, opened now when none is; without them, a stream of its own. */
function streamFor({ streams, socket, section, backoff }: X509SvidSourceOptions): SharedStream {
  const open = streams && openStreams.get(streams);
  if (!open) return new SharedStream({ socket, section, backoff }, () => undefined);
  const running = open.get(socket);
  if (running) return running;
  const stream = new SharedStream({ socket, section, backoff }, () => open.delete(socket));
  open.set(socket, stream);
  return stream;
}

/** The workload's X.509-SVID, kept current from the Workload API: one source per holder, which may share its stream. */
export class X509SvidSource {
  #current: X509Svid | undefined;
  #stoppedBecause: string | undefined;
  #onChange: (svid: X509Svid | undefined) => void = () => undefined;
  readonly #stop: () => void;

  private constructor(first: X509Svid, stoppedBecause: string | undefined, stop: () => void) {
    this.#current = first;
    this.#stoppedBecause = stoppedBecause;
    this.#stop = stop;
  }

  /**
   * Resolves once the first SVID that passes the checks has arrived, or at once with the SVID the stream it joins
   * holds. Rejects, and stops, when none has within `startupTimeoutMs` (naming the socket and the last failure), when
   * the agent blames the request, or when the stream cannot even be opened.
   */
  static open(options: X509SvidSourceOptions): Promise<X509SvidSource> {
    const { startupTimeoutMs, section, socket, onStreamFailure, onReload, onRedacted } = options;
    return new Promise((resolve, reject) => {
      let source: X509SvidSource | undefined;
      let lastProblem: string | undefined;
      // Declared before the timer that may call it: the stream can fail to open before there is one to leave.
      let leave: () => void = () => undefined;
      const fail = (why: string, cause?: unknown): void => {
        clearTimeout(timer);
        leave();
        reject(new Error(`${section}: no X.509-SVID from ${socket} ${why}`, cause === undefined ? undefined : { cause }));
      };
      const timer = setTimeout(() => fail(`within ${startupTimeoutMs / 1000} s (${lastProblem ?? "no answer"})`), startupTimeoutMs);
      const start = (svid: X509Svid, stoppedBecause: string | undefined): void => {
        clearTimeout(timer);
        source = new X509SvidSource(svid, stoppedBecause, () => leave());
        resolve(source);
      };
      let stream: SharedStream;
      try {
        stream = streamFor(options);
      } catch (err) {
        fail(`(the stream cannot be opened: ${(err as Error).message})`, err);
        return;
      }
      leave = stream.follow({
        section,
        onSvid: (svid) => {
          if (!source) return start(svid, undefined);
          source.#current = svid;
          source.#onChange(svid);
        },
        onReload: (event) => {
          if (!event.applied) lastProblem = event.reason;
          onReload?.(event);
        },
        onRedacted: (reason) => {
          // A source still waiting never held what the stream withdraws.
          if (!source) return;
          source.#current = undefined;
          source.#onChange(undefined);
          onRedacted?.(reason);
        },
        onStreamFailure: (failure) => {
          lastProblem = failure.reason;
          if (source && failure.retryInMs === undefined) source.#stoppedBecause = failure.reason;
          onStreamFailure?.(failure);
          if (!source && failure.retryInMs === undefined) fail(`(${failure.reason})`);
        },
      });
      if (stream.lastProblem !== undefined) lastProblem = stream.scoped(stream.lastProblem, section);
      const held = stream.current;
      // The agent sends again only at the next rotation, maybe an hour off: a source that joins takes what the stream
      // holds, unless it has expired (the agent away longer than it lived), which a stream of its own would not start with.
      if (held && Date.now() < held.notAfter.getTime()) start(held, stream.stoppedBecause);
      else if (stream.stoppedBecause !== undefined) fail(`(${stream.stoppedBecause})`);
    });
  }

  /** The SVID in use; undefined once the agent has redacted it, until it sends the next. */
  get current(): X509Svid | undefined {
    return this.#current;
  }

  /** Why the stream stopped for good (the agent blamed the request): no SVID will come again. Undefined while it is watched. */
  get stoppedBecause(): string | undefined {
    return this.#stoppedBecause;
  }

  /** Sets what takes each new SVID, or undefined when the one in use is redacted (one listener: the HeldSvid holding it). */
  onChange(listener: (svid: X509Svid | undefined) => void): void {
    this.#onChange = listener;
  }

  /** Leaves the stream, which closes once no other source follows it. */
  stop(): void {
    this.#stop();
  }
}
