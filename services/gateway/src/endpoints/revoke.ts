/** POST /oauth2/revoke (RFC 7009): 200 with an empty body, also for unknown tokens. */
import { issuerEndpoint } from "@sts/jwt";
import type { IncomingMessage } from "node:http";
import { callUnary } from "@sts/grpc";
import type { OAuthForm } from "../form.js";
import { clientAuthentication } from "./context.js";
import type { GatewayContext } from "./context.js";

/** Revokes the token. */
export async function revokeEndpoint(req: IncomingMessage, form: OAuthForm, ctx: GatewayContext): Promise<void> {
  // A missing token is the issuer's to refuse, after the client's credentials: a caller whose credentials are invalid
  // is answered 401 invalid_client whatever else its request lacks (RFC 7662 §2.3, RFC 7009 §2.1 and §2.2.1).
  const token = form.get("token") ?? "";
  const client = clientAuthentication(req, form, issuerEndpoint(ctx.issuer, "/oauth2/revoke"));
  await callUnary(ctx.token, "Revoke", { client, token, token_type_hint: form.get("token_type_hint") ?? "" }, { deadlineMs: ctx.deadlineMs });
}
