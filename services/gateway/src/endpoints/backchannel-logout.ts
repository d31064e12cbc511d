/**
 * POST /oauth2/backchannel-logout (OpenID Connect Back-Channel Logout 1.0
 * §2.5): a trusted provider posts the logout token of a user who signed out
 * there. 200 once every token of that user here is revoked; 400
 * invalid_request for a token that does not verify (nothing changes). The
 * token is its own credential: the exchanger verifies it against the
 * provider's keys, the issuer applies it.
 */
import type { IncomingMessage } from "node:http";
import { OAuthError, invalidRequest } from "@sts/errors";
import { callUnary } from "@sts/grpc";
import type { BackchannelLogoutRequest, BackchannelLogoutResponse__Output } from "@sts/proto";
import type { OAuthForm } from "../form.js";
import type { GatewayContext } from "./context.js";

/** Hands the logout token to the exchanger. */
export async function backchannelLogoutEndpoint(_req: IncomingMessage, form: OAuthForm, ctx: GatewayContext): Promise<void> {
  const logoutToken = form.get("logout_token");
  if (!logoutToken) throw invalidRequest("logout_token is required");
  if (!ctx.exchange) throw new OAuthError("invalid_request", "back-channel logout is not served here");
  await callUnary<BackchannelLogoutRequest, BackchannelLogoutResponse__Output>(
    ctx.exchange,
    "BackchannelLogout",
    { logout_token: logoutToken },
    { deadlineMs: ctx.deadlineMs },
  );
}
