/**
 * The dedicated token issuer (OA4MP) case of the jwt-bearer grant: an admin
 * client, authenticated with its own signed client_assertion, sends an
 * UNSIGNED assertion (`alg: none`) naming one of its managed clients (`iss`)
 * and a user (`sub`). This is the only place an unsigned JWT is accepted, and
 * only after the admin's signature was verified and the admin is the
 * registered admin of that client. Tokens follow the managed client's
 * configuration, within what the admin may give now (its `manages`, read at
 * each request); the admin never holds the managed client's credentials.
 * The token's event names the admin and the assertion's jti, so that an
 * admin's issuance is never read as the managed client's own.
 */
import { decodeProtectedHeader, UnsecuredJWT } from "jose";
import { invalidGrant, invalidScope, unauthorizedClient } from "@sts/errors";
import { spendAssertionJti } from "@sts/client-auth";
import type { ClientRecord } from "@sts/client-auth";
import { JWT_BEARER, MAX_SUBJECT_BYTES, TokenRejected, precheckCompactJwt } from "@sts/jwt";
import { expandScopeTemplates, intersectScopes, parseScopes } from "@sts/scopes";
import type { TokenRequest__Output, TokenResponse } from "@sts/proto";
import type { GrantDeps } from "./grant.js";
import { assertionOrigin, checkIssuable, issueTokens, narrowToClient } from "./issue-tokens.js";

/** Whether an assertion is unsigned (header alg none); undefined when it is not a JWT at all. */
export function isUnsigned(assertion: string): boolean {
  try {
    return decodeProtectedHeader(assertion).alg === "none";
  } catch {
    return false;
  }
}

interface DtiClaims {
  iss: string;
  sub: string;
  jti: string;
  exp: number;
  iat: number;
  nonce?: string;
  scope: string[];
}

function readClaims(assertion: string, deps: GrantDeps): DtiClaims {
  const parts = assertion.split(".");
  // RFC 7519 §6.1: an unsecured JWT has alg none and an empty signature, nothing else.
  if (parts.length !== 3 || parts[2] !== "" || assertion.length > deps.assertions.maxBytes) throw invalidGrant("malformed unsigned assertion");
  // The same shape and duplicate-member checks as every signed token (SECURITY.md): JSON.parse keeps the last of
  // two `sub` members, another reader of this assertion (the audit trail, the admin's logs) may keep the first.
  try {
    precheckCompactJwt(assertion, deps.assertions.maxBytes);
  } catch (err) {
    throw invalidGrant(err instanceof TokenRejected ? `assertion rejected: ${err.message}` : "assertion rejected", err);
  }
  let payload: Record<string, unknown>;
  try {
    payload = UnsecuredJWT.decode(assertion, {
      currentDate: new Date(deps.now() * 1000),
      clockTolerance: deps.assertions.clockTolerance,
      requiredClaims: ["iss", "sub", "jti", "exp", "iat"],
    }).payload;
  } catch (err) {
    throw invalidGrant("assertion rejected", err);
  }
  const { iss, sub, jti, exp, iat, nonce, scope } = payload;
  if (typeof iss !== "string" || typeof sub !== "string" || !sub || typeof jti !== "string" || !jti || jti.length > 256)
    throw invalidGrant("assertion claims are malformed");
  // Every token granted here must be revocable by its subject: RevokeSubject takes no longer one.
  if (Buffer.byteLength(sub, "utf8") > MAX_SUBJECT_BYTES) throw invalidGrant(`assertion rejected: sub is longer than ${MAX_SUBJECT_BYTES} bytes`);
  if (typeof exp !== "number" || exp - deps.now() > deps.assertions.maxLifetime) throw invalidGrant("assertion exp is too far in the future");
  if (typeof iat !== "number" || iat > deps.now() + deps.assertions.clockTolerance) throw invalidGrant("assertion iat is in the future");
  if (nonce !== undefined && (typeof nonce !== "string" || nonce.length > 512)) throw invalidGrant("nonce is malformed");
  let scopes: string[];
  try {
    // A string or an array (OA4MP sends either); any other value present is malformed, not absent: read as absent,
    // the request's `scope` would be granted in place of what the assertion meant to ask.
    if (scope !== undefined && typeof scope !== "string" && !Array.isArray(scope)) throw new TypeError("scope is neither a string nor an array");
    scopes = parseScopes(scope as string | string[] | undefined);
  } catch (err) {
    throw invalidScope("assertion scope is malformed", err);
  }
  return { iss, sub, jti, exp, iat, ...(typeof nonce === "string" && { nonce }), scope: scopes };
}

/**
 * The managed client as its admin may give it now: its scopes and audiences within the admin's current `manages`
 * (nothing without it), as registration and update check them (client-management.ts). Read at each issuance, so
 * an operator who takes an audience or a scope out of an admin's `manages` ends the admin's minting of it for the
 * clients it registered before, not only its handing it to new ones. Scope templates are expanded before this
 * bound applies, so their concrete scopes for this user are what must lie within `manages`.
 */
function withinAdminAllowance(managed: ClientRecord, admin: Pick<ClientRecord, "manages">): ClientRecord {
  const allowed = admin.manages ?? { audience: [], scope: [] };
  return {
    ...managed,
    scope: intersectScopes(managed.scope, allowed.scope),
    audience: managed.audience.filter((a) => allowed.audience.includes(a)),
  };
}

/**
 * The managed client as the admin that started a refresh family may give it now: a refresh continues the admin's
 * request, so it is bounded as a new one would be (the admin's current `manages`), and gets nothing once that admin
 * is gone, is no admin, or no longer manages the client.
 */
export function withinFamilyAdmin(managed: ClientRecord, adminClientId: string, deps: Pick<GrantDeps, "lookup">): ClientRecord {
  const admin = deps.lookup(adminClientId);
  const stillManages = admin?.admin === true && managed.admin_client_id === adminClientId;
  return withinAdminAllowance(managed, stillManages ? admin : {});
}

/**
 * A client as what it gets for itself may be now: one an admin registered through the API is held to that admin's
 * current `manages` (see {@link withinFamilyAdmin}), so that an operator who narrows or removes an admin (after a
 * compromise, say) narrows or ends the clients it registered, not only what it mints for them from then on. A client
 * the config file declares keeps the allowance the file gives it, whoever manages it.
 */
export function withinRegisteringAdmin(client: ClientRecord, deps: Pick<GrantDeps, "lookup">): ClientRecord {
  if (client.admin_client_id === undefined || client.seed_digest !== undefined) return client;
  return withinFamilyAdmin(client, client.admin_client_id, deps);
}

/** Runs the admin case; `admin` is the authenticated caller. */
export async function dedicatedIssuer(
  request: TokenRequest__Output,
  admin: ClientRecord,
  deps: GrantDeps,
  method: ClientRecord["token_endpoint_auth_method"],
): Promise<TokenResponse> {
  const claims = readClaims(request.assertion, deps);
  const managed = deps.lookup(claims.iss);
  // Only a registered admin, proven by its own signature, may speak for a client it manages.
  if (!admin.admin) throw invalidGrant("unsigned assertions are not accepted");
  if (method !== "private_key_jwt") throw unauthorizedClient("an admin must authenticate with private_key_jwt");
  if (!managed || managed.admin_client_id !== admin.client_id) throw unauthorizedClient("this admin does not manage that client");
  const requested = claims.scope.length > 0 ? claims.scope : parseScopes(request.scope);
  // Templates (`read:`) become the managed client's concrete scopes for this user.
  const expanded = expandScopeTemplates(requested, managed.scope_templates ?? {}, claims.sub);
  if (requested.length > 0 && expanded.length === 0) throw invalidScope("no requested scope is allowed for this client");
  const { scope, audience } = narrowToClient(expanded, request, withinAdminAllowance(managed, admin));
  const originIat = await assertionOrigin(claims.sub, managed.client_id, claims.iat, deps);
  const input = {
    sub: claims.sub,
    client: managed,
    scope,
    audience,
    grantType: JWT_BEARER.GRANT_TYPE,
    user: { ...(claims.nonce && { nonce: claims.nonce }) },
    originIat,
    assertion: { jti: claims.jti, adminClientId: admin.client_id },
  };
  const format = checkIssuable(input, deps);
  // Spent last, in the admin's name: a request refused for its scope or audience leaves the assertion usable.
  await spendAssertionJti(deps.recordDtiJti, admin.client_id, claims.jti, claims.exp, invalidGrant);
  return issueTokens(input, deps, format);
}
