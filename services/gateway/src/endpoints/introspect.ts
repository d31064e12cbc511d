/** POST /oauth2/introspect (RFC 7662). */
import { issuerEndpoint } from "@sts/jwt";
import type { IncomingMessage } from "node:http";
import { callUnary } from "@sts/grpc";
import type { Actor__Output, IntrospectResponse__Output } from "@sts/proto";
import type { OAuthForm } from "../form.js";
import { compact } from "../respond.js";
import { clientAuthentication } from "./context.js";
import type { GatewayContext } from "./context.js";

function actJson(a: Actor__Output | null): Record<string, unknown> | undefined {
  if (!a || !a.sub) return undefined;
  const inner = actJson(a.act);
  return inner ? { sub: a.sub, act: inner } : { sub: a.sub };
}

/** Returns the RFC 7662 §2.2 body: `{"active":false}` alone when inactive. */
export async function introspectEndpoint(req: IncomingMessage, form: OAuthForm, ctx: GatewayContext): Promise<Record<string, unknown>> {
  // A missing token is the issuer's to refuse, after the client's credentials: a caller whose credentials are invalid
  // is answered 401 invalid_client whatever else its request lacks (RFC 7662 §2.3, RFC 7009 §2.1 and §2.2.1).
  const token = form.get("token") ?? "";
  const client = clientAuthentication(req, form, issuerEndpoint(ctx.issuer, "/oauth2/introspect"));
  const r = await callUnary<object, IntrospectResponse__Output>(
    ctx.token,
    "Introspect",
    { client, token, token_type_hint: form.get("token_type_hint") ?? "" },
    { deadlineMs: ctx.deadlineMs },
  );
  if (!r.active) return { active: false };
  const num = (v: string): number | undefined => (v && v !== "0" ? Number(v) : undefined);
  return compact({
    active: true,
    scope: r.scope,
    client_id: r.client_id,
    sub: r.sub,
    aud: r.aud.length === 1 ? r.aud[0] : r.aud,
    exp: num(r.exp),
    iat: num(r.iat),
    nbf: num(r.nbf),
    iss: r.iss,
    jti: r.jti,
    token_type: r.token_type,
    act: actJson(r.act),
    // RFC 9493: who vouches for sub, when it is not this issuer.
    sub_id: r.subject_issuer ? { format: "iss_sub", iss: r.subject_issuer, sub: r.sub } : undefined,
  });
}
