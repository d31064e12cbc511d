/**
 * POST /oauth2/register (RFC 7591) and GET/PUT/DELETE /oauth2/register/{id}
 * (RFC 7592): JSON client metadata, with a bearer credential (an admin's
 * access token for the registration endpoint, or the client's
 * registration_access_token). The issuer owns the registry and decides.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { invalidRequest } from "@sts/errors";
import { callUnary, requireBearer } from "@sts/grpc";
import type { ClientServiceClient } from "@sts/proto";
import { methodNotAllowed, sendJson } from "../respond.js";

/** Serves the registration endpoints; `id` is the client id from the path (undefined for POST /oauth2/register). */
export async function registerEndpoint(
  req: IncomingMessage,
  res: ServerResponse,
  clients: ClientServiceClient,
  id: string | undefined,
  /** Reads the request's body (size-capped; sends 100 Continue where the client waits for it). */
  readBody: () => Promise<string>,
  deadlineMs: number,
): Promise<void> {
  // The method first: a request no credential could make acceptable is 405 with what is (RFC 9110 §15.5.6).
  const allow = id === undefined ? "POST" : "GET, HEAD, PUT, DELETE";
  if (!allow.split(", ").includes(req.method ?? "")) return methodNotAllowed(res, allow);
  const bearer = requireBearer(req.headers.authorization, "a bearer credential is required");
  const json = async (): Promise<string> => {
    const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
    if (type !== "application/json") throw invalidRequest("body must be application/json");
    return readBody();
  };
  const call = async (method: string, request: object): Promise<Record<string, unknown>> => {
    const r = await callUnary<object, { metadata_json: string }>(clients, method, request, { deadlineMs });
    return r.metadata_json ? (JSON.parse(r.metadata_json) as Record<string, unknown>) : {};
  };
  const noStore = { "cache-control": "no-store", pragma: "no-cache" };
  if (id === undefined) {
    sendJson(res, 201, await call("Register", { bearer, metadata_json: await json() }), noStore);
    return;
  }
  switch (req.method) {
    case "GET":
    case "HEAD":
      sendJson(res, 200, await call("Get", { bearer, client_id: id }), noStore);
      return;
    case "PUT":
      sendJson(res, 200, await call("Update", { bearer, client_id: id, metadata_json: await json() }), noStore);
      return;
    case "DELETE":
      await call("Delete", { bearer, client_id: id });
      res.writeHead(204, noStore).end();
  }
}
