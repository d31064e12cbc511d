/** GET or POST /oauth2/userinfo (OIDC Core §5.3) with a bearer access token (RFC 6750 §2.1). */
import type { IncomingMessage } from "node:http";
import { callUnary, requireBearer } from "@sts/grpc";
import type { GatewayContext } from "./context.js";

/** Returns the user's claims; a missing or bad bearer token is invalid_token (401). */
export async function userinfoEndpoint(req: IncomingMessage, ctx: GatewayContext): Promise<Record<string, unknown>> {
  const token = requireBearer(req.headers.authorization, "a bearer access token is required");
  const r = await callUnary<object, { claims_json: string }>(ctx.token, "UserInfo", { access_token: token }, { deadlineMs: ctx.deadlineMs });
  return JSON.parse(r.claims_json) as Record<string, unknown>;
}
