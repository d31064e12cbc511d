/** Forwarding one HTTP request to an upstream, with headers chosen by the caller. */
import { Agent, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1), the proxy credentials and challenges meant for this hop alone (§11.7.1-2:
 * consumed by the first proxy; passed on, a workload's token there would reach the destination), and ours, never
 * forwarded as received.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);
const DROP = new Set([...HOP_BY_HOP, "host", "authorization"]);

/**
 * Who sent the call and how, as proxies tell it (RFC 7239 `Forwarded` and its de facto forerunners): a workload's IP
 * allow-list or "came over TLS" check reads them, so a caller must not write them; the inbound listener sets
 * `x-forwarded-for` and `x-forwarded-proto` itself. Not only the `x-forwarded-*` names the sidecar sets: frameworks
 * read others first. Rack takes `X-Forwarded-Ssl: on` (and `X-Forwarded-Scheme`) for https ahead of
 * `X-Forwarded-Proto`, Spring and Flask's ProxyFix `X-Forwarded-Prefix` as the path the app is mounted under, and
 * Node's request-ip `X-Client-IP` ahead of `X-Forwarded-For` (then CDN and balancer names such as `True-Client-IP`).
 */
const FORWARDING = new Set([
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-forwarded-prefix",
  "x-forwarded-ssl",
  "x-forwarded-scheme",
  "x-forwarded-server",
  "x-forwarded",
  "forwarded-for",
  "front-end-https",
  "x-url-scheme",
  "x-real-ip",
  "x-client-ip",
  "client-ip",
  "true-client-ip",
  "x-cluster-client-ip",
  "cf-connecting-ip",
  "fastly-client-ip",
  "x-original-forwarded-for",
]);

/**
 * A header name as a framework that folds names may read it: every character other than a letter, a digit or `-`
 * taken for `-`. Caddy's and FrankenPHP's FastCGI gateways turn only `-` into `_` (`x-mesh.subject` becomes
 * `HTTP_X_MESH.SUBJECT`), and PHP then registers `.` as `_` in `$_SERVER`: the application reads
 * `HTTP_X_MESH_SUBJECT`, the same key as the sidecar's own `x-mesh-subject`, and which of the two wins is the order
 * of a Go map.
 */
function foldedName(name: string): string {
  const lower = name.toLowerCase();
  // Most names hold nothing to fold: tested first, so the per-header cost on the hot path is one scan.
  return UNFOLDED.test(lower) ? lower.replace(UNFOLDED_ALL, "-") : lower;
}

const UNFOLDED = /[^a-z0-9-]/;
const UNFOLDED_ALL = /[^a-z0-9-]/g;

/**
 * Names only a proxy may set, whatever the protocol and however a framework folds them (see {@link foldedName}):
 * `x-mesh-*` (the verified caller, and in `x-mesh-peer` the mutual TLS peer), `x-forwarded-client-cert` (a workload
 * trusts it to name the TLS peer, so Envoy sanitises it by default), `Forwarded` and its family (see FORWARDING: who
 * the peer is and whether it came over TLS), and every name with an underscore (frameworks such as CGI, nginx, Rails
 * and Django fold `_` into `-`, so `x_mesh_subject` would reach the workload as `x-mesh-subject`; Envoy's
 * headers_with_underscores_action exists for the same reason).
 */
export function isProxyOnly(name: string): boolean {
  if (name.includes("_")) return true;
  const folded = foldedName(name);
  return folded.startsWith("x-mesh-") || folded === "x-forwarded-client-cert" || FORWARDING.has(folded);
}

/** The header names a `Connection` header nominates (RFC 9110 §7.6.1), lower-cased. */
export function connectionNominated(connection: string | string[] | undefined): Set<string> {
  const names = new Set<string>();
  for (const value of [connection ?? []].flat()) {
    for (const token of value.split(",")) {
      const name = token.trim().toLowerCase();
      if (name) names.add(name);
    }
  }
  return names;
}

/**
 * The received headers minus hop-by-hop ones (fixed and nominated by `Connection`), `authorization` and the names
 * {@link isProxyOnly} reserves. A request's framing is not taken from here: {@link forward} sets it.
 */
export function forwardableHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  // Nominated headers describe the connection they came on; passed on, a caller could smuggle them past this hop.
  const nominated = connectionNominated(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || DROP.has(k) || nominated.has(k) || isProxyOnly(k)) continue;
    out[k] = v;
  }
  return out;
}

/** Headers that frame a message body; only {@link upstreamFraming} decides them. */
const FRAMING = new Set(["transfer-encoding", "content-length"]);

/**
 * The framing of the upstream request, from how the received one was framed (RFC 9112 §6): chunked when it had a
 * Transfer-Encoding (which overrides Content-Length, §6.3), else its exact Content-Length, else no body.
 */
function upstreamFraming(req: IncomingMessage): { "transfer-encoding": "chunked" } | { "content-length": string } | undefined {
  if (req.headers["transfer-encoding"] !== undefined) return { "transfer-encoding": "chunked" };
  if (req.headers["content-length"] !== undefined) return { "content-length": req.headers["content-length"] };
  return undefined;
}

/** Where an outbound answer sends its client next: RFC 9110 §10.2.2 `Location` and §8.7 `Content-Location`. */
const LOCATION_HEADERS = ["location", "content-location"] as const;

/** What {@link routeLocation} needs to re-express a destination's `Location` for the workload. */
export interface RouteRedirects {
  /** The route's prefix on the outbound listener, `/svc-b`: what `/p` on the route's origin becomes `/svc-b/p` under. */
  prefix: string;
  /** The host name (as WHATWG URL writes it) the workload called the outbound listener on, from its `Host` header. */
  listenerHost?: string;
}

/**
 * A destination's `Location` or `Content-Location` as the workload must see it, as nginx's proxy_redirect does: a
 * reference on the route's own origin (relative, or absolute) comes back under the route's prefix; a URL on another
 * origin still points there. Undefined (drop the header) when it does not parse, when it would not stay under the
 * prefix, or when it names the host the workload calls its sidecar on.
 */
export function routeLocation(value: string, asked: URL, redirects: RouteRedirects): string | undefined {
  let url: URL;
  try {
    // Resolved as the workload's client resolves it, against the URL that was asked for (RFC 9110 §10.2.2), but here
    // against the destination's URL, where `/p` means the route's `/p`. WHATWG resolution also removes dot segments
    // (`%2e` ones too) and reads `\` as `/`, so what comes out is the one path every client agrees on.
    url = new URL(value, asked);
  } catch {
    return undefined;
  }
  if (url.origin === asked.origin) {
    // All routes share the outbound listener's origin, so a bare `/svc-c/admin` would be followed same-origin, with the
    // workload's Authorization, to another route: the destination would spend its caller's authority there.
    const routed = `${redirects.prefix}${url.pathname}${url.search}${url.hash}`;
    // Read back as the workload's client will read it (a route named `..` would otherwise climb out of its prefix).
    const check = new URL(routed, "http://outbound.invalid");
    return check.pathname.startsWith(`${redirects.prefix}/`) && `${check.pathname}${check.search}${check.hash}` === routed ? routed : undefined;
  }
  // The host of the outbound listener, whatever the port: it is the workload's own, where no destination has business
  // sending it, and Go's client keeps Authorization on a redirect to the same host name on another port (fetch would
  // for the listener's exact origin), so there it would call another route of this sidecar with its caller's token.
  if (url.hostname === redirects.listenerHost) return undefined;
  // Another origin: the workload's client applies its own cross-origin rules (fetch drops Authorization on a redirect
  // to another origin, Fetch §4.4 HTTP-redirect fetch). Written out absolute, so that no client can take a reference
  // WHATWG reads as another host (`/\host/p`) for a path on the listener's origin.
  return url.href;
}

/** The answer's headers with `Location` and `Content-Location` put through {@link routeLocation} (or left out). */
function relocated(headers: Record<string, string | string[]>, asked: URL, redirects: RouteRedirects): Record<string, string | string[]> {
  const out = { ...headers };
  for (const name of LOCATION_HEADERS) {
    const value = out[name];
    if (value === undefined) continue;
    const routed = [value]
      .flat()
      .map((v) => routeLocation(v, asked, redirects))
      .filter((v) => v !== undefined);
    if (routed.length === 0) delete out[name];
    else out[name] = routed.length === 1 ? (routed[0] as string) : routed;
  }
  return out;
}

/** Connections to upstreams are kept alive: a new TCP connection per call would dominate a hop's cost. */
const agent = new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 });

/**
 * How long an upstream may stay silent (connecting, before its answer, or mid-body) before the call is given up:
 * without it, an upstream that never answers holds one of the agent's sockets for good, and enough of them stall every call.
 */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 30_000;

/** Options of {@link forward}. */
export interface ForwardOptions {
  /** Idle time (ms) after which the upstream call is abandoned: 504 if it had not answered yet, a cut connection after. Default {@link DEFAULT_UPSTREAM_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** The connection pool; required for an https: target (an https.Agent: it holds the client certificate and the checks of the server). */
  agent?: Agent;
  /**
   * Aborted once the pool's identity is withdrawn (a redacted SVID): the call then fails with 502, cut if under way,
   * and nothing is sent if it was not yet.
   */
  signal?: AbortSignal;
  /** On the outbound listener: the route whose answers' `Location` and `Content-Location` are re-expressed (see {@link routeLocation}). */
  redirects?: RouteRedirects;
}

/** Why a call under `signal` fails: its reason when it gave one. */
export const withdrawnError = (signal: AbortSignal): Error =>
  signal.reason instanceof Error ? signal.reason : new Error("the identity of this call was withdrawn", { cause: signal.reason });

const JSON_HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

/** The body of a 504: the upstream did not answer within the call's idle timeout. */
const UPSTREAM_TIMED_OUT = { error: "temporarily_unavailable", error_description: "the upstream did not answer in time" } as const;

/**
 * Seconds the caller of a 504 is told to wait (RFC 9110 §10.2.3): the answer is transient, and says so as the sidecar's
 * other temporarily_unavailable answers (503: an exchange that timed out, revocations too old) do, with the 1 s an
 * OAuthError of that code carries by default. A constant, not @sts/errors: this module imports no package, so that
 * h2-proxy.test.ts can run it in a process of its own.
 */
const UPSTREAM_TIMEOUT_RETRY_AFTER = 1;

/** The body of a 502: what a caller gets when the sidecar could not reach the upstream, whatever the reason. */
export const BAD_GATEWAY = { error: "bad_gateway" } as const;

/**
 * Streams req to target (a full URL) with the given headers, framed as req was, and streams the answer back. Always resolves: with the
 * upstream's error if it failed or timed out (a refused TLS check included), else (also when the client left first) with undefined.
 */
export function forward(
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
  headers: Record<string, string | string[]>,
  options: ForwardOptions = {},
): Promise<Error | undefined> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
  const tls = target.protocol === "https:";
  // Node's default agent would verify against the system's CAs and present no certificate.
  if (tls && !options.agent) throw new TypeError("forward: an https: target needs the agent that holds its TLS identity");
  const send = tls ? httpsRequest : httpRequest;
  const { signal } = options;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (err?: Error): void => {
      if (settled) return;
      settled = true;
      resolve(err);
    };
    /** Answers the client when the upstream did not; once its answer has started, cutting the connection is the only honest signal. */
    const fail = (err: Error, status: number, body: Readonly<Record<string, string>>, headers: Readonly<Record<string, string>> = {}): void => {
      settle(err);
      if (res.destroyed) return;
      if (!res.headersSent) {
        res.writeHead(status, { ...JSON_HEADERS, ...headers }).end(JSON.stringify(body));
        // The rest of the body has nowhere to go; read it so the answer reaches a client still sending.
        req.unpipe();
        if (!req.complete) req.resume();
      } else if (!res.writableEnded) {
        res.destroy();
      }
    };
    // The caller left while its call was admitted (its token verified or exchanged): nobody waits for an answer, and a
    // request sent now would run on the workload or the destination all the same. Its 'close' events are past, so
    // nothing below would ever notice, and the call would hold its upstream socket until the upstream timeout.
    if (res.destroyed) {
      settle();
      return;
    }
    if (signal?.aborted) {
      // Checked before the request exists: Node hands a new request to its agent, which may dial, at once.
      fail(withdrawnError(signal), 502, BAD_GATEWAY);
      return;
    }
    // Framing comes from the parsed request, never from forwarded headers: a body sent upstream without them (Node's
    // client does not chunk a GET by default) would be read off the kept-alive socket as a second, unverified request.
    const framing = upstreamFraming(req);
    const unframed = Object.fromEntries(Object.entries(headers).filter(([k]) => !FRAMING.has(k.toLowerCase())));
    const upstreamHeaders = { ...unframed, ...framing, host: target.host };
    const upstream = send(target, { method: req.method, headers: upstreamHeaders, agent: options.agent ?? agent, timeout: timeoutMs }, (up) => {
      const headers = forwardableHeaders(up.headers);
      res.writeHead(up.statusCode ?? 502, options.redirects ? relocated(headers, target, options.redirects) : headers);
      up.pipe(res);
      // A truncated body ended cleanly would pass for a whole answer (and keep the client waiting for the rest).
      up.on("error", (err) => fail(err, 502, BAD_GATEWAY));
      up.on("close", () => {
        if (!up.complete) fail(new Error("the upstream response ended early"), 502, BAD_GATEWAY);
      });
    });
    upstream.on("timeout", () => {
      const err = new Error(`no answer from the upstream within ${timeoutMs} ms`);
      fail(err, 504, UPSTREAM_TIMED_OUT, { "retry-after": String(UPSTREAM_TIMEOUT_RETRY_AFTER) });
      upstream.destroy(err);
    });
    upstream.on("error", (err) => fail(err, 502, BAD_GATEWAY));
    if (signal) {
      // Node's own `signal` option would not answer a call still queued in its agent: it has no socket to fail on.
      const withdrawn = (): void => {
        const err = withdrawnError(signal);
        fail(err, 502, BAD_GATEWAY);
        upstream.destroy(err);
      };
      signal.addEventListener("abort", withdrawn, { once: true });
      // A route's signal outlives thousands of calls.
      upstream.once("close", () => signal.removeEventListener("abort", withdrawn));
    }
    // A client that leaves mid-call frees the upstream call, and its pooled socket, with it.
    const clientLeft = (): void => {
      upstream.destroy();
      settle();
    };
    req.on("close", () => {
      if (!req.complete) clientLeft();
    });
    res.on("close", () => {
      if (!res.writableFinished) clientLeft();
      settle();
    });
    if (framing) {
      req.pipe(upstream);
    } else {
      upstream.end();
      req.resume();
    }
  });
}
