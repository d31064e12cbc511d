/**
 * RFC 6749 §4.4 client_credentials. The client acts for itself: sub is its
 * canonical id, scope is requested ∩ allowed, audience is requested ∩ allowed
 * in the client's order (the first is the primary audience). No refresh token
 * (RFC 6749 §4.4.3).
 */
import { parseScopes } from "@sts/scopes";
import type { Grant } from "./grant.js";
import { issueTokens, narrowToClient } from "./issue-tokens.js";
import { withinRegisteringAdmin } from "./dedicated-issuer.js";

/** The client_credentials grant. */
export const clientCredentials: Grant = {
  grantType: "client_credentials",
  async handle(request, client, deps) {
    const { scope, audience } = narrowToClient(parseScopes(request.scope), request, withinRegisteringAdmin(client, deps));
    return issueTokens({ sub: client.client_id, client, scope, audience, grantType: "client_credentials" }, deps);
  },
};
