#!/usr/bin/env node
/**
 * A demo workload (A, B or C). It knows nothing of token exchange: it reads
 * what its sidecar tells it about the caller, and calls the next service
 * through its sidecar's outbound listener with the token it received.
 *
 *   DEMO_NAME=svc-a DEMO_PORT=9101 DEMO_OUTBOUND=http://127.0.0.1:8201 DEMO_NEXT=svc-b node service.js
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

const name = process.env.DEMO_NAME ?? "svc";
const port = Number(process.env.DEMO_PORT ?? 0);
const outbound = process.env.DEMO_OUTBOUND;
const next = process.env.DEMO_NEXT;

function claimsOf(authorization: string | undefined): Record<string, unknown> {
  const token = (authorization ?? "").replace(/^Bearer /, "");
  try {
    return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;
  } catch {
    return {};
  }
}

const server = createServer((req, res) => {
  void (async () => {
    const c = claimsOf(req.headers.authorization);
    const received = {
      service: name,
      // The sidecar percent-encodes identifiers (see MESH_HEADERS in @sts/mesh).
      sub: decodeURIComponent(String(req.headers["x-mesh-subject"] ?? "")),
      scope: req.headers["x-mesh-scope"],
      aud: c.aud,
      act: c.act ?? null,
      jti: c.jti,
      exp: c.exp,
    };
    const downstream = next && outbound ? await callNext(`${outbound}/${next}/work`, next, req.headers.authorization) : null;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ...received, downstream }));
  })().catch((err: unknown) => res.writeHead(500).end(String(err)));
});

/**
 * The next hop's answer, or what kept it from answering (its refusal, or its sidecar out of reach as 502): this hop's
 * own view is answered either way, so the demo shows how far the chain got.
 */
async function callNext(url: string, next: string, authorization: string | undefined): Promise<unknown> {
  try {
    const r = await fetch(url, { headers: { authorization: authorization ?? "" } });
    return r.ok ? await r.json() : { service: next, refused: r.status, error: await r.text() };
  } catch (err) {
    const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
    return { service: next, refused: 502, error: `could not reach the outbound sidecar at ${url}: ${String(cause?.code ?? err)}` };
  }
}

server.listen(port, "127.0.0.1", () => {
  const { port: bound } = server.address() as AddressInfo;
  console.log(`${name} listening on ${bound}${next ? `, calls ${next}` : ""}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
