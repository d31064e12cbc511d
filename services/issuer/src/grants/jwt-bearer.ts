/**
 * RFC 7523 §2.1 jwt-bearer grant: the authenticated client presents an
 * assertion it signed, whose `sub` is the user the token is for (a workload
 * acting for a user who is not present). A bad assertion is invalid_grant
 * (RFC 7523 §3.1), whatever is wrong with it.
 */
import { invalidGrant, invalidRequest, invalidScope, invalidTarget, unauthorizedClient } from "@sts/errors";
import { verifyClientSignedAssertion } from "@sts/client-auth";
import { JWT_BEARER } from "@sts/jwt";
import { EVENT_TYPES } from "@sts/nats";
import { audiencesWellFormed, grantAudiences, intersectScopes, parseScopes, requestedAudiences } from "@sts/scopes";
import { dedicatedIssuer, isUnsigned } from "./dedicated-issuer.js";
import type { Grant } from "./grant.js";

/** The jwt-bearer grant. */
export const jwtBearer: Grant = {
  grantType: JWT_BEARER.GRANT_TYPE,
  async handle(request, client, deps, method) {
    if (!request.assertion) throw invalidRequest("assertion is required");
    if (isUnsigned(request.assertion)) return dedicatedIssuer(request, client, deps, method);
    if (!client.grant_types.includes(JWT_BEARER.GRANT_TYPE)) throw unauthorizedClient("client may not use this grant type");
    const assertion = await verifyClientSignedAssertion(request.assertion, deps.assertions, invalidGrant, {
      requireSubIsIssuer: false,
      expectedClientId: client.client_id,
    });
    const requested = parseScopes(request.scope);
    const scope = requested.length === 0 ? [] : intersectScopes(requested, client.scope);
    if (requested.length > 0 && scope.length === 0) throw invalidScope("requested scope is not allowed for this client");
    const wanted = requestedAudiences(request.audience, request.resource);
    if (!audiencesWellFormed(wanted)) throw invalidRequest("malformed audience or resource");
    const audience = grantAudiences(wanted, client.audience);
    if (audience.length === 0) throw invalidTarget("no requested audience is allowed for this client");
    const minted = await deps.minter.mint({
      sub: assertion.sub,
      clientId: client.client_id,
      audience,
      scope,
      ttl: client.access_token_ttl ?? deps.defaultTtl,
      format: client.access_token_format[audience[0] as string] ?? "jwt",
      grantType: JWT_BEARER.GRANT_TYPE,
      eventType: EVENT_TYPES.TOKEN_ISSUED,
    });
    // A workload acting for an absent user keeps going with refresh tokens (RFC 6749 §6), if its client may.
    if (!client.grant_types.includes("refresh_token"))
      return { access_token: minted.token, token_type: "Bearer", expires_in: String(minted.expiresIn), scope: minted.scope };
    const rt = await deps.refresh.issue(
      { client_id: client.client_id, sub: assertion.sub, scope, aud: audience, access_jti: minted.jti },
      client.refresh_token_ttl ?? 86400,
    );
    return {
      access_token: minted.token,
      token_type: "Bearer",
      expires_in: String(minted.expiresIn),
      scope: minted.scope,
      refresh_token: rt.token,
      refresh_token_lifetime: String(rt.exp - rt.iat),
      refresh_token_iat: String(rt.iat),
    };
  },
};
