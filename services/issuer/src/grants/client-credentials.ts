/**
 * RFC 6749 §4.4 client_credentials. The client acts for itself: sub is its
 * canonical id, scope is requested ∩ allowed, audience is requested ∩ allowed
 * in the client's order (the first is the primary audience).
 */
import { invalidScope, invalidTarget, invalidRequest } from "@sts/errors";
import { EVENT_TYPES } from "@sts/nats";
import { audiencesWellFormed, grantAudiences, intersectScopes, parseScopes, requestedAudiences } from "@sts/scopes";
import type { Grant } from "./grant.js";

/** The client_credentials grant. */
export const clientCredentials: Grant = {
  grantType: "client_credentials",
  async handle(request, client, deps) {
    const requestedScope = parseScopes(request.scope);
    // No scope requested: a token without scope (the issue's rule), not a default set.
    const scope = requestedScope.length === 0 ? [] : intersectScopes(requestedScope, client.scope);
    if (requestedScope.length > 0 && scope.length === 0) throw invalidScope("requested scope is not allowed for this client");

    const wanted = requestedAudiences(request.audience, request.resource);
    if (!audiencesWellFormed(wanted)) throw invalidRequest("malformed audience or resource");
    const audience = grantAudiences(wanted, client.audience);
    // Never a token without aud: it would be accepted by any resource server.
    if (audience.length === 0) throw invalidTarget("no requested audience is allowed for this client");

    const minted = await deps.minter.mint({
      sub: client.client_id,
      clientId: client.client_id,
      audience,
      scope,
      ttl: client.access_token_ttl ?? deps.defaultTtl,
      format: client.access_token_format[audience[0] as string] ?? "jwt",
      grantType: "client_credentials",
      eventType: EVENT_TYPES.TOKEN_ISSUED,
    });
    return { access_token: minted.token, token_type: "Bearer", expires_in: String(minted.expiresIn), scope: minted.scope };
  },
};
