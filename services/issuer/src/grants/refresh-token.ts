/**
 * RFC 6749 §6 refresh_token grant, with rotation: the client presents its
 * refresh token (with its own credentials), gets a new access token and a new
 * refresh token of the same family. A narrower scope, or fewer of its
 * audiences (RFC 8707 §2.2), may be asked for, never a wider one, and never
 * more than the client may have now: an admin who narrowed a client's scope
 * or audiences is not undone by a refresh token issued before, nor is an
 * operator who narrowed the `manages` of the admin whose dedicated-issuer
 * request started the family.
 */
import { OAuthError, invalidRequest, invalidScope, invalidTarget } from "@sts/errors";
import { EVENT_TYPES } from "@sts/nats";
import { grantAudiences, intersectScopes, isWithin, parseScopes } from "@sts/scopes";
import type { Grant, GrantDeps } from "./grant.js";
import { tokenFormatFor } from "../token-format.js";
import { checkNotAnotherClient, checkNotUserNamedClient, checkScopeCount, requestedTargets } from "./issue-tokens.js";
import { withinFamilyAdmin, withinRegisteringAdmin } from "./dedicated-issuer.js";
import type { CheckedRefresh } from "../refresh-tokens.js";

/** The refresh_token grant. */
export const refreshToken: Grant = {
  grantType: "refresh_token",
  async handle(request, client, deps) {
    if (!request.refresh_token) throw invalidRequest("refresh_token is required");
    const checked = await checkLogged(request.refresh_token, client.client_id, deps);
    const { grant } = checked;
    // A family begun for a user whose id a client was given since: refused while that client exists.
    checkNotAnotherClient(grant.sub, client.client_id, deps, "the refresh token");
    checkNotUserNamedClient(grant.sub, client.client_id, deps);
    const requested = parseScopes(request.scope);
    // RFC 6749 §6: the requested scope MUST NOT include any scope not originally granted; one that does is refused
    // (§5.2 invalid_scope, "exceeds the scope granted"), not quietly cut down to what the client did not ask for alone.
    if (!isWithin(requested, grant.scope)) throw invalidScope("requested scope exceeds the refresh token's");
    const wanted = requested.length === 0 ? grant.scope : intersectScopes(requested, grant.scope);
    // The client's limits as they are now, as at issuance (narrowToClient): the same errors when nothing is left.
    const limits = grant.admin_client_id === undefined ? withinRegisteringAdmin(client, deps) : withinFamilyAdmin(client, grant.admin_client_id, deps);
    const scope = intersectScopes(wanted, limits.scope);
    if (wanted.length > 0 && scope.length === 0) throw invalidScope("the refresh token's scope is no longer allowed for this client");
    checkScopeCount(scope);
    const granted = grantAudiences(grant.aud, limits.audience);
    if (granted.length === 0) throw invalidTarget("the refresh token's audience is no longer allowed for this client");
    // RFC 8707 §2.2: `audience`/`resource` on a refresh ask for a token for those of the grant's audiences only, as
    // `scope` narrows its scope (RFC 6749 §6): never one for every audience of the family when fewer were asked for.
    const wantedTargets = requestedTargets(request);
    const audience = wantedTargets.length === 0 ? granted : grantAudiences(wantedTargets, granted);
    if (audience.length === 0) throw invalidTarget("no requested audience is within the refresh token's");
    // Minted before the old token is spent: a failed mint leaves it usable for a retry. If the rotation then
    // fails (a concurrent use of the same token), this access token is never handed out.
    const minted = await deps.minter.mint({
      sub: grant.sub,
      clientId: client.client_id,
      audience,
      scope,
      ttl: client.access_token_ttl ?? deps.defaultTtl,
      format: tokenFormatFor(client.access_token_format, audience),
      grantType: "refresh_token",
      eventType: EVENT_TYPES.TOKEN_REFRESHED,
      parentJti: grant.access_jti,
      refreshFamily: grant.family,
      // An auditor reads from each refreshed token, as from the family's first, which admin's signed request began it.
      ...(grant.admin_client_id !== undefined && { adminClientId: grant.admin_client_id }),
    });
    const next = await deps.refresh.rotate(
      checked,
      { access_jti: minted.jti, access_exp: minted.exp },
      client.refresh_token_ttl ?? 86400,
      deps.recordFamilyRevocation,
    );
    return {
      access_token: minted.token,
      token_type: "Bearer",
      expires_in: String(minted.expiresIn),
      scope: minted.scope,
      refresh_token: next.token,
      refresh_token_lifetime: String(next.exp - next.iat),
      refresh_token_iat: String(next.iat),
    };
  },
};

/** Checks the presented token; a refusal's detail, which its answer keeps from the caller, goes to the log (never the token). */
async function checkLogged(token: string, clientId: string, deps: GrantDeps): Promise<CheckedRefresh> {
  try {
    return await deps.refresh.check(token, clientId, deps.recordFamilyRevocation);
  } catch (err) {
    if (err instanceof OAuthError && err.code === "invalid_grant") {
      const detail = err.cause instanceof Error ? err.cause.message : err.description;
      deps.logger.info({ client_id: clientId, detail }, "refresh token refused");
    }
    throw err;
  }
}
