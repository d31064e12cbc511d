/**
 * What every grant does once it knows who the token is for: narrow the
 * requested scope and audience to what the client may have, mint the access
 * token, and for user grants add a refresh token (when the client may
 * refresh) and an ID token (when openid was granted).
 */
import { begunBy } from "@sts/jwt";
import { invalidGrant, invalidRequest, invalidScope, invalidTarget, isCleanText, unauthorizedClient } from "@sts/errors";
import type { ClientRecord } from "@sts/client-auth";
import { EVENT_TYPES } from "@sts/nats";
import {
  MAX_SCOPES,
  MAX_SCOPE_STRING_LENGTH,
  audiencesWellFormed,
  formatScopes,
  grantAudiences,
  intersectScopes,
  requestedAudiences,
  resourceWellFormed,
} from "@sts/scopes";
import type { TokenRequest__Output, TokenResponse } from "@sts/proto";
import type { GrantDeps } from "./grant.js";
import { tokenFormatFor } from "../token-format.js";
import type { TokenFormat } from "../token-format.js";

/** The request's `audience` and `resource` values, checked: invalid_target or invalid_request when malformed. */
export function requestedTargets(request: Pick<TokenRequest__Output, "audience" | "resource">): string[] {
  // RFC 8707 §2: a resource indicator is an absolute URI without a fragment; a bare name (`resource=api-2`) goes in
  // `audience`. Refused as the exchanger refuses it, whatever the client is allowed.
  if (!request.resource.every(resourceWellFormed)) throw invalidTarget("resource must be an absolute URI without a fragment (RFC 8707 section 2)");
  const wanted = requestedAudiences(request.audience, request.resource);
  if (!audiencesWellFormed(wanted)) throw invalidRequest("malformed audience or resource");
  return wanted;
}

/**
 * Refuses a granted scope list larger than a token here may carry: every verifier of the stack reads at most
 * {@link MAX_SCOPES} scopes in at most {@link MAX_SCOPE_STRING_LENGTH} characters (the exchanger refuses a subject token
 * with more as malformed, UserInfo its access token), and a broad request met by many narrower allowed scopes, or scope
 * templates expanded, can come to more than the request named.
 */
export function checkScopeCount(scope: readonly string[]): void {
  if (scope.length > MAX_SCOPES) throw invalidScope(`the scopes granted would be more than the ${MAX_SCOPES} a token may carry: ask for fewer`);
  if (formatScopes(scope).length > MAX_SCOPE_STRING_LENGTH) {
    throw invalidScope(`the scopes granted would be longer than the ${MAX_SCOPE_STRING_LENGTH} characters a token may carry: ask for fewer`);
  }
}

/** requested ∩ the client's allowed scope and audiences; refuses an empty result. */
export function narrowToClient(
  requestedScope: readonly string[],
  request: TokenRequest__Output,
  client: ClientRecord,
): { scope: string[]; audience: string[] } {
  // No scope requested: a token without scope, not a default set.
  const scope = requestedScope.length === 0 ? [] : intersectScopes(requestedScope, client.scope);
  if (requestedScope.length > 0 && scope.length === 0) throw invalidScope("requested scope is not allowed for this client");
  checkScopeCount(scope);
  const audience = grantAudiences(requestedTargets(request), client.audience);
  // Never a token without aud: it would be accepted by any resource server.
  if (audience.length === 0) throw invalidTarget("no requested audience is allowed for this client");
  return { scope, audience };
}

/** What to issue. */
export interface IssueInput {
  sub: string;
  client: ClientRecord;
  scope: string[];
  audience: string[];
  grantType: string;
  /** A user grant: refresh and ID tokens may come with the access token. */
  user?: { nonce?: string };
  /** When the access token's chain began (the assertion it was granted on): its `origin_iat`. */
  originIat?: number;
  /** The assertion the token was granted on, named in its event: its jti and, for the dedicated issuer, the admin that sent it. */
  assertion?: { jti: string; adminClientId?: string };
}

/**
 * Clients and users share one `sub` namespace here (a client's own tokens carry its client id as `sub`, RFC 9068
 * §2.2), so a user grant (an assertion, or a refresh of one) may not be for another client: the token would read, to
 * every resource server and policy that looks at `sub`, as that client's own (RFC 9700 §4.15). The client itself
 * may be the subject. `what` names the grant's credential in the error.
 */
export function checkNotAnotherClient(sub: string, clientId: string, deps: GrantDeps, what = "the assertion"): void {
  if (sub !== clientId && deps.lookup(sub)) throw invalidGrant(`${what}'s subject is another client of this stack, not a user`);
}

/**
 * A client named like a user of the directory (registered before names were checked, or the user added since) would
 * get tokens of its own that read as that user's (RFC 9700 §4.15): it gets none, by any grant, until one is renamed.
 */
export function checkNotUserNamedClient(sub: string, clientId: string, deps: GrantDeps): void {
  if (sub === clientId && deps.isUser(sub)) throw unauthorizedClient("this client's id is also a user's here: its own tokens would read as that user's");
}

/**
 * A user named with a control character (`jeff\u0000`, `jeff\n`) or broken UTF-16 would get tokens that the stack's
 * own exchanger refuses as a bad subject token, that no policy decision takes, that a resource server truncating at
 * NUL reads as another user (`jeff`, whom an operator may have signed out), and whose name reaches auditors' terminals
 * in events: refused where such a name enters, the assertion (RFC 7523 §3.1: invalid_grant).
 */
export function checkSubjectName(sub: string): void {
  if (!isCleanText(sub)) throw invalidGrant("assertion rejected: sub holds a control character or is not well-formed Unicode");
}

/**
 * The time an assertion (RFC 7523, or the dedicated issuer's) for `sub` was made, its `iat` (now when it has none,
 * or one a little ahead), once it is known not to precede a revocation of `sub` or of `clientId`, the client the
 * tokens are issued to: invalid_grant when it does, since redeemed within its lifetime it would mint new tokens,
 * and a new refresh family, for a user signed out everywhere, or tokens every verifier refuses at birth for a
 * revoked workload (its chain began before the revocation). An assertion without `iat` (optional in RFC 7523)
 * cannot show it was made after the revocation, so while one is on record it is refused too. Read from the bucket
 * itself, as the refresh grant does: a watch a moment behind lets nothing out. First, `sub` must be a name the stack
 * carries (checkSubjectName) and not another client.
 */
export async function assertionOrigin(sub: string, clientId: string, iat: unknown, deps: GrantDeps): Promise<number> {
  checkSubjectName(sub);
  checkNotAnotherClient(sub, clientId, deps);
  const now = deps.now();
  const dated = typeof iat === "number" && Number.isFinite(iat);
  const origin = dated ? Math.min(iat, now) : now;
  const [subjectAt, clientAt] = await Promise.all([deps.subjectRevokedAt(sub), clientId === sub ? undefined : deps.subjectRevokedAt(clientId)]);
  // Undated, nothing shows it was made after a revocation on record: read as made before it.
  const began = dated ? origin : -Infinity;
  if (begunBy(clientAt, began)) throw invalidGrant("the client was revoked after the assertion was made");
  if (subjectAt !== undefined && !dated) throw invalidGrant("the assertion's subject was signed out: an assertion for it must carry iat");
  if (begunBy(subjectAt, began)) throw invalidGrant("the assertion's subject was signed out after it was made");
  return origin;
}

/**
 * What {@link issueTokens} refuses of what it is asked, before anything is signed or stored: its answer is the token
 * format. A grant that spends a single-use credential (an assertion's jti) calls it first, so that a request refused
 * for what it asked (audiences taking different formats) leaves the credential for a corrected request.
 */
export function checkIssuable(input: Pick<IssueInput, "sub" | "client" | "audience">, deps: GrantDeps): TokenFormat {
  checkNotUserNamedClient(input.sub, input.client.client_id, deps);
  return tokenFormatFor(input.client.access_token_format, input.audience);
}

/**
 * Mints the access token (and, for user grants, refresh and ID tokens) and builds the RFC 6749 §5.1 response. `format`
 * is what checkIssuable answered, when the grant asked it first (before spending an assertion's jti).
 */
export async function issueTokens(input: IssueInput, deps: GrantDeps, format: TokenFormat = checkIssuable(input, deps)): Promise<TokenResponse> {
  const { client, sub, scope, audience } = input;
  // A workload acting for an absent user keeps going with refresh tokens (RFC 6749 §6), if its client may.
  const family = input.user && client.grant_types.includes("refresh_token") ? deps.refresh.newFamily() : undefined;
  // OIDC Core §3.1.3.3: an ID token when openid is granted, the nonce echoed. Signed first so that the access
  // token's durable event can name it: no token of this response leaves without a record.
  const idToken =
    input.user && scope.includes("openid")
      ? deps.minter.idToken({
          sub,
          clientId: client.client_id,
          ttl: client.access_token_ttl ?? deps.defaultTtl,
          ...(input.user.nonce && { nonce: input.user.nonce }),
        })
      : undefined;
  const minted = await deps.minter.mint({
    sub,
    clientId: client.client_id,
    audience,
    scope,
    ttl: client.access_token_ttl ?? deps.defaultTtl,
    format,
    grantType: input.grantType,
    eventType: EVENT_TYPES.TOKEN_ISSUED,
    ...(family && { refreshFamily: family }),
    ...(idToken && { idTokenJti: idToken.jti }),
    ...(input.originIat !== undefined && { originIat: input.originIat }),
    ...(input.assertion && { assertionJti: input.assertion.jti }),
    ...(input.assertion?.adminClientId && { adminClientId: input.assertion.adminClientId }),
  });
  const response: TokenResponse = { access_token: minted.token, token_type: "Bearer", expires_in: String(minted.expiresIn), scope: minted.scope };
  if (family) {
    const rt = await deps.refresh.issue(
      {
        client_id: client.client_id,
        sub,
        scope,
        aud: audience,
        access_jti: minted.jti,
        access_exp: minted.exp,
        // Its refreshes stay within what this admin may give then (see withinFamilyAdmin).
        ...(input.assertion?.adminClientId && { admin_client_id: input.assertion.adminClientId }),
      },
      client.refresh_token_ttl ?? 86400,
      family,
    );
    Object.assign(response, { refresh_token: rt.token, refresh_token_lifetime: String(rt.exp - rt.iat), refresh_token_iat: String(rt.iat) });
  }
  if (idToken) response.id_token = idToken.token;
  return response;
}
