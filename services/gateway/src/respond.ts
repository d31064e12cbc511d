/** JSON responses and RFC 6749 §5.2 error bodies, with the right status and headers. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { OAuthError } from "@sts/errors";
import { toOAuthError } from "@sts/errors";
import { NoBearerCredential } from "@sts/grpc";
import { HttpRefusal } from "./http-errors.js";

const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" };

/** The header fields of the gateway's JSON answers besides their length: also those of what Node refuses on its own (server.ts). */
export const JSON_ANSWER_HEADERS: Readonly<Record<string, string>> = { "content-type": "application/json; charset=utf-8", ...NO_STORE };

/**
 * Whether the request came with a body (RFC 9112 §6.3: framed by Transfer-Encoding or a Content-Length) that has not
 * been read to its end: it is being answered without it (a 404, a 405, an early refusal, a GET that brought one).
 */
export function bodyUnread(req: IncomingMessage): boolean {
  const framed = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
  return framed && !req.complete;
}

/**
 * Sends a JSON body. An answer given without reading the request's body says the connection closes after it (RFC 9112
 * §9.6), so that the client does not send another request on it and nothing reads the rest of that body.
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = NO_STORE): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": JSON_ANSWER_HEADERS["content-type"],
    "content-length": Buffer.byteLength(text),
    ...headers,
    ...(bodyUnread(res.req) && { connection: "close" }),
  });
  res.end(text);
}

/**
 * Sends a 200 with no body (revocation, RFC 7009 §2.2; back-channel logout, whose §2.8 recommends these very cache
 * headers so that no cached answer stands in for a later logout).
 */
export function sendEmpty(res: ServerResponse): void {
  res.writeHead(200, { ...NO_STORE, "content-length": 0 });
  res.end();
}

/**
 * What a public client reads of a 5xx: the code (and Retry-After) says all it can act on. The description inside the
 * stack names internal parts and their state (a policy version behind another, the exchanger's own credentials
 * refused, a NATS bucket), which the edge keeps to itself; each service logs its own failure.
 */
const EDGE_DESCRIPTIONS: Partial<Record<OAuthError["code"], string>> = {
  server_error: "internal error",
  temporarily_unavailable: "the service is temporarily unavailable; retry later",
};

/** Sends an OAuth error; invalid_client gets 401 + WWW-Authenticate, temporarily_unavailable 503 + Retry-After, an HttpRefusal its status and fields. */
export function sendError(res: ServerResponse, err: unknown): OAuthError {
  const e = toOAuthError(err);
  const body = e.toJSON();
  const edge = EDGE_DESCRIPTIONS[e.code];
  if (edge !== undefined) body.error_description = edge;
  const headers: Record<string, string> = { ...NO_STORE };
  if (e.code === "invalid_client") headers["www-authenticate"] = `Basic realm="sts", error="invalid_client"`;
  // RFC 6750 §3: a protected resource's errors come with a Bearer challenge; §3.1: naming no error when the request
  // carried no credential (the scheme still needs an auth-param: the realm).
  if (e instanceof NoBearerCredential) headers["www-authenticate"] = `Bearer realm="sts"`;
  else if (e.code === "invalid_token" || e.code === "insufficient_scope") headers["www-authenticate"] = `Bearer error="${e.code}"`;
  if (e.retryAfter !== undefined) headers["retry-after"] = String(e.retryAfter);
  // A refusal HTTP gives a status of its own (415 for a content coding) says what would have been taken.
  if (e instanceof HttpRefusal) Object.assign(headers, e.headers);
  sendJson(res, e.status, body, headers);
  return e;
}

/** 405 with the methods the resource does take (RFC 9110 §15.5.6: the Allow field is required). */
export function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendJson(res, 405, { error: "invalid_request", error_description: "method not allowed" }, { ...NO_STORE, allow });
}

/** Only the non-empty fields of an object (RFC responses omit absent members). */
export function compact(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && v.length === 0)));
}
