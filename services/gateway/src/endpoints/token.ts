/** POST /oauth2/token: RFC 6749 §3.2; token exchange (RFC 8693) goes to the exchanger, every other grant to the issuer. */
import { issuerEndpoint } from "@sts/jwt";
import type { IncomingMessage } from "node:http";
import { OAuthError, invalidRequest } from "@sts/errors";
import { callUnary } from "@sts/grpc";
import type { ExchangeRequest, ExchangeResponse__Output, TokenRequest } from "@sts/proto";
import type { OAuthForm } from "../form.js";
import { compact } from "../respond.js";
import { clientAuthentication } from "./context.js";
import type { GatewayContext } from "./context.js";

const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";

/** Runs the grant and returns the RFC 6749 §5.1 body; `gone` aborts once the client has left. */
export async function tokenEndpoint(req: IncomingMessage, form: OAuthForm, ctx: GatewayContext, gone: AbortSignal): Promise<Record<string, unknown>> {
  const grantType = form.get("grant_type");
  if (!grantType) throw invalidRequest("grant_type is required");
  const client = clientAuthentication(req, form, issuerEndpoint(ctx.issuer, "/oauth2/token"));
  if (grantType === TOKEN_EXCHANGE) {
    if (!ctx.exchange) throw new OAuthError("unsupported_grant_type", "token exchange is not served here");
    const request: ExchangeRequest = {
      client,
      subject_token: form.get("subject_token") ?? "",
      subject_token_type: form.get("subject_token_type") ?? "",
      actor_token: form.get("actor_token") ?? "",
      actor_token_type: form.get("actor_token_type") ?? "",
      requested_token_type: form.get("requested_token_type") ?? "",
      audience: form.all("audience"),
      resource: form.all("resource"),
      scope: form.get("scope") ?? "",
    };
    // A client gone before the answer cancels the call: the exchanger then mints nothing for nobody (a call already
    // minting finishes). Coalesced grants are withdrawn only while they wait for their batch.
    gone.throwIfAborted();
    const r = await callUnary<ExchangeRequest, ExchangeResponse__Output>(ctx.exchange, "Exchange", request, { deadlineMs: ctx.deadlineMs, signal: gone });
    return compact({
      access_token: r.access_token,
      issued_token_type: r.issued_token_type,
      token_type: r.token_type,
      expires_in: Number(r.expires_in),
      scope: r.scope,
    });
  }
  const request: TokenRequest = {
    client,
    grant_type: grantType,
    scope: form.get("scope") ?? "",
    audience: form.all("audience"),
    resource: form.all("resource"),
    assertion: form.get("assertion") ?? "",
    refresh_token: form.get("refresh_token") ?? "",
  };
  // A client gone while its request still waits for a batch withdraws it: nothing is signed or spent for nobody.
  const r = await ctx.tokenCalls.call(request, gone);
  return compact({
    access_token: r.access_token,
    token_type: r.token_type,
    expires_in: Number(r.expires_in),
    scope: r.scope,
    refresh_token: r.refresh_token,
    refresh_token_lifetime: r.refresh_token ? Number(r.refresh_token_lifetime) : undefined,
    refresh_token_iat: r.refresh_token ? Number(r.refresh_token_iat) : undefined,
    id_token: r.id_token,
    issued_token_type: r.issued_token_type,
  });
}
