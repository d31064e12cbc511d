/** POST /oauth2/revoke (RFC 7009): 200 with an empty body, also for unknown tokens. */
import { issuerEndpoint } from "@sts/jwt";
import type { IncomingMessage } from "node:http";
import { invalidRequest } from "@sts/errors";
import { callUnary } from "@sts/grpc";
import type { OAuthForm } from "../form.js";
import { clientAuthentication } from "./context.js";
import type { GatewayContext } from "./context.js";

/** Revokes the token. */
export async function revokeEndpoint(req: IncomingMessage, form: OAuthForm, ctx: GatewayContext): Promise<void> {
  const token = form.get("token");
  if (!token) throw invalidRequest("token is required");
  const client = clientAuthentication(req, form, issuerEndpoint(ctx.issuer, "/oauth2/revoke"));
  await callUnary(ctx.token, "Revoke", { client, token, token_type_hint: form.get("token_type_hint") ?? "" }, { deadlineMs: ctx.deadlineMs });
}
