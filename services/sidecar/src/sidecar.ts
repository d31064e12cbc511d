/**
 * The two listeners of a workload's sidecar.
 * - inbound: a call must carry a bearer token of ours for this workload; the
 *   verified subject, scopes and actor chain go to the workload in
 *   `x-mesh-*` headers, which the sidecar strips from what arrives, so they
 *   cannot be forged from outside. Nothing is forwarded on failure.
 * - outbound: the workload calls `/<route>/<path>` with the token it
 *   received; the sidecar swaps it for one restricted to the route's
 *   audience and scopes and forwards with that token only. A call without a
 *   token or to a destination with no route is refused, never forwarded.
 */
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeJwt } from "jose";
import { OAuthError, toOAuthError } from "@sts/errors";
import { bearerToken, verifyInbound } from "@sts/mesh";
import type { ExchangeCache, InboundOptions } from "@sts/mesh";
import type { Logger } from "@sts/telemetry";
import type { SidecarConfig } from "./config.js";
import { forward, forwardableHeaders } from "./proxy.js";

/** Headers the workload receives about its caller. */
export const MESH_HEADERS = {
  SUBJECT: "x-mesh-subject",
  SCOPE: "x-mesh-scope",
  ACTORS: "x-mesh-actors",
  CLIENT: "x-mesh-client-id",
  TOKEN_ID: "x-mesh-token-id",
} as const;

function refuse(res: ServerResponse, err: unknown): void {
  const e = toOAuthError(err);
  // RFC 6750 §3: a missing or bad bearer token is 401 with a Bearer challenge.
  const status =
    e.code === "invalid_token"
      ? 401
      : e.code === "invalid_target" || e.code === "invalid_scope" || e.code === "unauthorized_client"
        ? 403
        : e.code === "invalid_request"
          ? 401
          : e.status;
  const headers: Record<string, string> = { "content-type": "application/json", "cache-control": "no-store" };
  if (status === 401) headers["www-authenticate"] = `Bearer error="invalid_token", error_description="${e.description}"`;
  if (e.retryAfter !== undefined) headers["retry-after"] = String(e.retryAfter);
  if (!res.headersSent) res.writeHead(status, headers).end(JSON.stringify(e.toJSON()));
}

/** What the sidecar needs. */
export interface SidecarDeps {
  config: SidecarConfig;
  inbound: Omit<InboundOptions, "audience">;
  audience: string;
  exchange: ExchangeCache;
  /** Revocation state (NATS KV watch). */
  isRevoked: (jti: string) => boolean;
  logger: Logger;
}

function jtiOf(token: string): string {
  try {
    const jti = decodeJwt(token).jti;
    return typeof jti === "string" ? jti : "";
  } catch {
    throw new OAuthError("invalid_token", "malformed bearer token");
  }
}

async function inboundHandler(req: IncomingMessage, res: ServerResponse, deps: SidecarDeps): Promise<void> {
  const caller = await verifyInbound(bearerToken(req.headers.authorization), { ...deps.inbound, audience: deps.audience });
  const target = new URL(req.url ?? "/", deps.config.upstream);
  await forward(req, res, target, {
    ...forwardableHeaders(req.headers),
    // The workload gets the token it was called with, to call on through its outbound listener.
    authorization: `Bearer ${caller.token}`,
    [MESH_HEADERS.SUBJECT]: caller.sub,
    [MESH_HEADERS.SCOPE]: caller.scopes.join(" "),
    [MESH_HEADERS.ACTORS]: caller.actors.join(","),
    [MESH_HEADERS.CLIENT]: caller.claims.client_id,
    [MESH_HEADERS.TOKEN_ID]: caller.claims.jti,
  });
}

async function outboundHandler(req: IncomingMessage, res: ServerResponse, deps: SidecarDeps): Promise<void> {
  const [, routeName = "", ...rest] = (req.url ?? "/").split("/");
  const route = deps.config.routes[routeName];
  if (!route) throw new OAuthError("invalid_target", "no route to this destination");
  const token = bearerToken(req.headers.authorization);
  if (!token) throw new OAuthError("invalid_token", "the inbound bearer token is required");
  // A cached exchange must not outlive a revocation of the token it was made from.
  if (deps.isRevoked(jtiOf(token))) throw new OAuthError("invalid_token", "the inbound token is revoked");
  const exchanged = await deps.exchange.tokenFor(token, route.audience, route.scopes);
  const target = new URL(`/${rest.join("/")}`, route.url);
  // Only the exchanged token leaves: never the one the workload received.
  await forward(req, res, target, { ...forwardableHeaders(req.headers), authorization: `Bearer ${exchanged.accessToken}` });
}

function listen(handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>, host: string, port: number, logger: Logger): Promise<Server> {
  const server = createServer({ maxHeaderSize: 16 * 1024, headersTimeout: 10_000 }, (req, res) => {
    handler(req, res).catch((err: unknown) => {
      if (!(err instanceof OAuthError)) logger.error({ err }, "sidecar request failed");
      refuse(res, err);
      if (!req.complete) req.resume();
    });
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

/** Starts both listeners. */
export async function startSidecar(deps: SidecarDeps): Promise<{ inboundPort: number; outboundPort: number; close(): Promise<void> }> {
  const inbound = await listen((req, res) => inboundHandler(req, res, deps), deps.config.inbound.host, deps.config.inbound.port, deps.logger);
  const outbound = await listen((req, res) => outboundHandler(req, res, deps), deps.config.outbound.host, deps.config.outbound.port, deps.logger);
  const close = (s: Server): Promise<void> => new Promise((r) => s.close(() => r()));
  return {
    inboundPort: (inbound.address() as AddressInfo).port,
    outboundPort: (outbound.address() as AddressInfo).port,
    close: async () => {
      await Promise.all([close(inbound), close(outbound)]);
    },
  };
}
