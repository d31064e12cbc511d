/**
 * RFC 7523 §2.1 jwt-bearer grant: the authenticated client presents an
 * assertion it signed, whose `sub` is the user the token is for (a workload
 * acting for a user who is not present). A bad assertion is invalid_grant
 * (RFC 7523 §3.1), whatever is wrong with it. An unsigned assertion is the
 * dedicated token issuer's admin case, handled apart.
 */
import { invalidGrant, invalidRequest, unauthorizedClient } from "@sts/errors";
import { checkClientSignedAssertion, spendAssertionJti } from "@sts/client-auth";
import { JWT_BEARER, MAX_SUBJECT_BYTES } from "@sts/jwt";
import { parseScopes } from "@sts/scopes";
import { dedicatedIssuer, isUnsigned, withinRegisteringAdmin } from "./dedicated-issuer.js";
import type { Grant } from "./grant.js";
import { assertionOrigin, checkIssuable, issueTokens, narrowToClient } from "./issue-tokens.js";

/** The jwt-bearer grant. */
export const jwtBearer: Grant = {
  grantType: JWT_BEARER.GRANT_TYPE,
  async handle(request, client, deps, method) {
    if (!request.assertion) throw invalidRequest("assertion is required");
    if (isUnsigned(request.assertion)) return dedicatedIssuer(request, client, deps, method);
    if (!client.grant_types.includes(JWT_BEARER.GRANT_TYPE)) throw unauthorizedClient("client may not use this grant type");
    const assertion = await checkClientSignedAssertion(request.assertion, deps.assertions, invalidGrant, {
      requireSubIsIssuer: false,
      expectedClientId: client.client_id,
      // Every token granted here must be revocable by its subject: RevokeSubject takes no longer one.
      maxSubjectBytes: MAX_SUBJECT_BYTES,
    });
    const { scope, audience } = narrowToClient(parseScopes(request.scope), request, withinRegisteringAdmin(client, deps));
    const originIat = await assertionOrigin(assertion.sub, client.client_id, assertion.payload.iat, deps);
    const input = { sub: assertion.sub, client, scope, audience, grantType: JWT_BEARER.GRANT_TYPE, user: {}, originIat, assertion: { jti: assertion.jti } };
    const format = checkIssuable(input, deps);
    // Spent last: a request refused for its scope or audience leaves the client's assertion usable.
    await spendAssertionJti(deps.assertions.recordJti, client.client_id, assertion.jti, assertion.exp, invalidGrant);
    return issueTokens(input, deps, format);
  },
};
