/** Forwarding one HTTP request to an upstream, with headers chosen by the caller. */
import { Agent, request as httpRequest } from "node:http";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";

/** Hop-by-hop headers (RFC 9110 §7.6.1) and ours, never forwarded as received. */
const DROP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host", "authorization"]);

/** The received headers minus hop-by-hop ones, `authorization`, and every `x-mesh-*` (which only a sidecar sets). */
export function forwardableHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || DROP.has(k) || k.startsWith("x-mesh-")) continue;
    out[k] = v;
  }
  return out;
}

/** Connections to upstreams are kept alive: a new TCP connection per call would dominate a hop's cost. */
const agent = new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 });

/** Streams req to target (a full URL) with the given headers and streams the answer back; resolves with the upstream's error, if any. */
export function forward(req: IncomingMessage, res: ServerResponse, target: URL, headers: Record<string, string | string[]>): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const upstream = httpRequest(target, { method: req.method, headers: { ...headers, host: target.host }, agent }, (up) => {
      res.writeHead(up.statusCode ?? 502, forwardableHeaders(up.headers));
      up.pipe(res);
      up.on("end", () => resolve(undefined));
      up.on("error", resolve);
    });
    upstream.on("error", (err) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" }).end(JSON.stringify({ error: "bad_gateway" }));
      resolve(err);
    });
    req.pipe(upstream);
  });
}
