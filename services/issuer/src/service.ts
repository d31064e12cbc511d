/** sts.token.v1.TokenService handlers. */
import { invalidRequest, isCleanText, OAuthError, unauthorizedClient } from "@sts/errors";
import { authenticateClient } from "@sts/client-auth";
import type { AuthenticateDeps, ClientRecord } from "@sts/client-auth";
import {
  ISSUABLE_TOKEN_TYPES,
  JWT_BEARER,
  MAX_CLIENT_ID_CHARS,
  MAX_KID_CHARS,
  MAX_LINEAGE,
  MAX_SUBJECT_BYTES,
  TOKEN_TYPE,
  audienceList,
  isLineage,
  isLineageKids,
  isMayAct,
  isOriginClientId,
  subjectIssuer,
} from "@sts/jwt";
import type { ActClaim, MayActClaim, RevocationLookups } from "@sts/jwt";
import type { PublicKeyRing, SigningKeyRing } from "@sts/keys";
import { EVENT_TYPES, recordEventId } from "@sts/nats";
import type { EventPublisher } from "@sts/nats";
import { audiencesWellFormed, parseScopes } from "@sts/scopes";
import type {
  Actor,
  ClientServiceHandlers,
  IntrospectResponse,
  MintBatchRequest__Output,
  MintRequest__Output,
  MintResponse,
  TokenBatchRequest__Output,
  TokenRequest__Output,
  TokenResponse,
  TokenServiceHandlers,
} from "@sts/proto";
import { answerBatch, requirePeerSpiffeId, unary } from "@sts/grpc";
import type { CallContext } from "@sts/grpc";
import type { Logger } from "@sts/telemetry";
import { GRANTS } from "./grants/index.js";
import type { GrantDeps, TokenServiceGrantDeps } from "./grants/index.js";
import { inspectToken } from "./inspect.js";
import { FAMILY_REVOKED_REASONS, REFRESH_PREFIX, familyRevokedEvent } from "./refresh-tokens.js";
import type { RecordFamilyRevocation } from "./refresh-tokens.js";
import { userInfoClaims } from "./userinfo.js";
import { deleteClient, readClient, registerClient, updateClient } from "./client-management.js";
import type { ManagementDeps } from "./client-management.js";
import type { InspectDeps } from "./inspect.js";
import type { TokenMinter } from "./mint.js";
import { tokenFormatFor } from "./token-format.js";
import { checkedActChain, checkedParentJti } from "./mint-checks.js";
import { revokeSubject } from "./subject-revocation.js";
import type { SubjectRevocationDeps } from "./subject-revocation.js";

/** Everything the handlers use. */
export interface TokenServiceDeps extends InspectDeps {
  /** The user directory behind UserInfo. */
  users: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  auth: AuthenticateDeps;
  ring: SigningKeyRing;
  publicKeys: PublicKeyRing;
  minter: TokenMinter;
  events: EventPublisher;
  /** The grants' deps, but for what the token service adds itself (recording refresh family revocations, its log). */
  grantDeps: Omit<GrantDeps, TokenServiceGrantDeps>;
  logger: Logger;
  /** Issuers Mint may name as vouching for a subject: this stack and exchange.trusted_issuers. */
  subjectIssuers: readonly string[];
  /** exchange.max_depth: the deepest `act` chain an exchange makes, and so the deepest Mint signs. */
  maxActDepth: number;
  /** With grpc_tls.spiffe_ids.exchanger: the only certificate identity Mint accepts, on top of the internal client's secret. */
  minterSpiffeId?: string;
  /** RevokeSubject: operators, the revocations bucket, the events. */
  subjects: SubjectRevocationDeps;
}

/** Converts a JWT act claim to a proto Actor chain. */
export function actToProto(act: ActClaim | undefined): Actor | undefined {
  if (!act) return undefined;
  const inner = actToProto(act.act);
  return inner ? { sub: act.sub, act: inner } : { sub: act.sub };
}

/**
 * MintRequest.lineage_kids, checked (empty: none, as from another issuer's subject token or an exchanger of an earlier
 * release): malformed is invalid_request. One this issuer has withdrawn would revoke the token at birth, so nothing is
 * signed: the exchanger's copy of the revocations was behind ours, and the answer is the one it gives a revoked subject
 * token (invalid_request, RFC 8693 §2.2.2). Throws temporarily_unavailable when the revocations are too old to trust.
 */
export function checkLineageKids(kids: readonly string[], issuer: string, revocations: Pick<RevocationLookups, "isKeyWithdrawn">): readonly string[] {
  if (kids.length === 0) return kids;
  if (!isLineageKids(kids)) throw invalidRequest(`lineage_kids must be at most ${MAX_LINEAGE} distinct kids of at most ${MAX_KID_CHARS} characters`);
  if (kids.some((kid) => revocations.isKeyWithdrawn(issuer, kid)))
    throw invalidRequest("a token this exchange rests on (the subject or actor token, or one they were made from) was signed with a withdrawn key");
  return kids;
}

/**
 * Internal callers authenticate with client_secret_basic in the `authorization`
 * metadata and, when an identity is pinned, with that SPIFFE ID on their TLS
 * certificate: a leaked secret alone does not open the signing path.
 */
async function authenticateInternal(ctx: CallContext, auth: AuthenticateDeps, pinnedSpiffeId: string | undefined): Promise<ClientRecord> {
  requirePeerSpiffeId(ctx, pinnedSpiffeId, "exchanger");
  const header = ctx.metadata.get("authorization")[0];
  if (typeof header !== "string") throw new OAuthError("invalid_client", "internal caller authentication required");
  const { client } = await authenticateClient({ authorization: header }, auth);
  if (!client.internal) throw unauthorizedClient("caller is not an internal service");
  return client;
}

/**
 * Notes a revocation (RFC 7009) of another client's token, which is left alone and answered as an unknown token is
 * (§2.2). §2.1 lets the server refuse it instead, but a refusal tells whoever holds a stolen token, opaque ones
 * included, that it is live for some other client. Only who asked is logged, never the token or whose it is.
 */
function logAnotherClientsToken(logger: Logger, clientId: string, kind: "access_token" | "refresh_token"): void {
  logger.info({ client_id: clientId, kind }, "revocation of another client's token ignored");
}

/** Whether the call carries client_secret_basic credentials (an internal service) rather than a bearer token. */
function isBasicAuthorization(ctx: CallContext): boolean {
  const header = ctx.metadata.get("authorization")[0];
  return typeof header === "string" && /^basic /i.test(header);
}

/** Builds the TokenService implementation. */
export function tokenService(deps: TokenServiceDeps): TokenServiceHandlers {
  const { logger } = deps;

  /**
   * Revokes an access token in `by`'s name and stores its event. The record is written once and the event made from
   * it, under an id it fixes with the operation (the token itself, or its refresh family): a retry after the event
   * failed (503) finds the token revoked and stores that same event, so no revocation stays without its record, and a
   * family revoked after its token has its own.
   */
  async function revokeAccess(
    claims: { jti: string; exp: number; client_id: string; sub: string },
    by: string,
    log: Logger,
    extra: { refresh_family?: string } = {},
  ): Promise<void> {
    const record = await deps.revocations.revoke({ jti: claims.jti, exp: claims.exp, revoked_at: deps.now(), by });
    await deps.events.publish(
      EVENT_TYPES.TOKEN_REVOKED,
      { jti: claims.jti, client_id: claims.client_id, sub: claims.sub, revoked_by: record.by, exp: claims.exp, ...extra },
      {
        id: recordEventId(EVENT_TYPES.TOKEN_REVOKED, [record.jti, record.revoked_at, record.by, extra.refresh_family ?? ""]),
        subject: claims.jti,
        time: new Date(record.revoked_at * 1000),
      },
    );
    log.info({ jti: claims.jti }, "token revoked");
  }

  /** Whether a token that expired at `exp` is still worth revoking: verifiers accept it up to clock_tolerance past it. */
  const stillAccepted = (exp: number): boolean => exp + deps.clockTolerance > deps.now();

  /**
   * Records a refresh family's revocation: revokes the access tokens that go with it (in the revoking client's name,
   * or "family" when reuse detection revoked them unasked), then stores the family's `refresh_family.revoked` event.
   */
  const familyRecorder =
    (log: Logger): RecordFamilyRevocation =>
    async (revocation) => {
      const by = revocation.reason === FAMILY_REVOKED_REASONS.REUSE ? "family" : revocation.by;
      for (const access of revocation.access) {
        if (!stillAccepted(access.exp)) continue;
        const claims = { jti: access.jti, exp: access.exp, client_id: revocation.client_id, sub: revocation.sub };
        await revokeAccess(claims, by, log, { refresh_family: revocation.family });
      }
      const event = familyRevokedEvent(revocation);
      await deps.events.publish(EVENT_TYPES.REFRESH_FAMILY_REVOKED, event.data, { id: event.id, subject: revocation.family, time: event.time });
      log.info({ family: revocation.family, reason: revocation.reason }, "refresh token family revoked");
    };

  const grantDeps: GrantDeps = { ...deps.grantDeps, recordFamilyRevocation: familyRecorder(logger), logger };
  /** One grant for one authenticated client. */
  async function token(req: TokenRequest__Output): Promise<TokenResponse> {
    if (!req.grant_type) throw invalidRequest("grant_type is required");
    const grant = GRANTS.get(req.grant_type);
    if (!grant) throw new OAuthError("unsupported_grant_type", "grant type not supported");
    const { client, method } = await authenticateClient(req.client ?? {}, deps.auth);
    // An admin starts flows for its managed clients with the jwt-bearer grant (dedicated token issuer).
    const adminFlow = client.admin === true && req.grant_type === JWT_BEARER.GRANT_TYPE;
    if (!adminFlow && !client.grant_types.includes(req.grant_type)) throw unauthorizedClient("client may not use this grant type");
    return grant.handle(req, client, grantDeps, method);
  }

  /** Signs one token whose claims the (already authenticated) exchanger computed. */
  async function mint(req: MintRequest__Output): Promise<MintResponse> {
    const target = deps.auth.lookup(req.client_id);
    if (!target) throw invalidRequest("unknown client_id");
    if (!req.sub) throw invalidRequest("sub is required");
    // The exchanger checks both; a signed token must not rest on its having done so (one RevokeSubject could not name).
    if (Buffer.byteLength(req.sub, "utf8") > MAX_SUBJECT_BYTES) throw invalidRequest(`sub is longer than ${MAX_SUBJECT_BYTES} bytes`);
    // No grant of this stack issues, and no exchange carries on, a sub that would not show as written to auditors.
    if (!isCleanText(req.sub)) throw invalidRequest("sub holds a control character or broken UTF-16");
    // Empty: an exchanger of an earlier release, which asked for access tokens only.
    const issuedType = req.requested_token_type || TOKEN_TYPE.ACCESS_TOKEN;
    if (!ISSUABLE_TOKEN_TYPES.has(issuedType)) throw invalidRequest("unsupported requested_token_type");
    if (req.audience.length === 0 || !audiencesWellFormed(req.audience)) throw invalidRequest("audience is required");
    const act = checkedActChain(req.act, req.client_id, deps.maxActDepth);
    const notAfter = Number(req.not_after);
    if (!Number.isSafeInteger(notAfter) || notAfter <= deps.now()) throw new OAuthError("invalid_grant", "subject token expired");
    let mayAct: MayActClaim | undefined;
    if (req.may_act_json) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(req.may_act_json);
      } catch {
        throw invalidRequest("may_act_json is not JSON");
      }
      // A may_act that names nobody would be read as "anyone" by a less careful verifier.
      if (!isMayAct(parsed)) throw invalidRequest("may_act must be an object with a string sub");
      mayAct = parsed;
    }
    if (!isLineage(req.lineage)) throw invalidRequest(`lineage must be at most ${MAX_LINEAGE} well-formed jtis`);
    // The actor token's jti is one of the lineage's: nothing else is ours to name.
    if (req.actor_jti && !req.lineage.includes(req.actor_jti)) throw invalidRequest("actor_jti must be one of the lineage's jtis");
    // Who vouches for the subject is written into the token: only this stack or an issuer it trusts may be named.
    if (req.subject_issuer && !deps.subjectIssuers.includes(req.subject_issuer)) throw invalidRequest("subject_issuer is not a trusted issuer");
    // The edge auditors walk for lineage: it names the token exchanged, as the lineage and subject_issuer do.
    const parentJti = checkedParentJti(req.parent_jti, req.lineage, req.subject_issuer, deps.issuer);
    // 0: none (an exchanger of an earlier release): the token then has only its own iat to be revoked by.
    const originIat = Number(req.origin_iat);
    if (!Number.isSafeInteger(originIat) || originIat < 0) throw invalidRequest("origin_iat must be seconds since epoch");
    // Empty: none (another issuer's subject, or an exchanger of an earlier release).
    if (req.origin_client_id && !isOriginClientId(req.origin_client_id))
      throw invalidRequest(`origin_client_id must be a client id of at most ${MAX_CLIENT_ID_CHARS} characters`);
    const lineageKids = checkLineageKids(req.lineage_kids, deps.issuer, deps.revocations);
    const format = tokenFormatFor(target.access_token_format, req.audience);
    // An audience configured for opaque tokens does not get a JWT because one was asked for (RFC 8693 §2.2.2).
    if (format === "opaque" && issuedType === TOKEN_TYPE.JWT)
      throw new OAuthError("invalid_target", "this audience takes opaque tokens, not requested_token_type jwt");
    const minted = await deps.minter.mint({
      sub: req.sub,
      clientId: req.client_id,
      audience: req.audience,
      scope: parseScopes(req.scope),
      ttl: target.access_token_ttl ?? deps.grantDeps.defaultTtl,
      notAfter,
      ...(act && { act }),
      ...(mayAct && { mayAct }),
      ...(parentJti && { parentJti }),
      ...(req.actor_jti && { actorJti: req.actor_jti }),
      ...(req.subject_issuer && { subjectIssuer: req.subject_issuer }),
      lineage: req.lineage,
      ...(originIat > 0 && { originIat }),
      ...(req.origin_client_id && { originClientId: req.origin_client_id }),
      lineageKids,
      policy: { ids: req.policy_ids, revision: req.policy_revision },
      format,
      grantType: "urn:ietf:params:oauth:grant-type:token-exchange",
      eventType: EVENT_TYPES.TOKEN_EXCHANGED,
    });
    return {
      access_token: minted.token,
      issued_token_type: issuedType,
      expires_in: String(minted.expiresIn),
      scope: minted.scope,
      jti: minted.jti,
    };
  }

  return {
    Token: unary(token, { name: "Token", logger }),

    TokenBatch: unary(async (req: TokenBatchRequest__Output) => ({ results: await answerBatch(req.items, token, { name: "TokenBatch", logger }) }), {
      name: "TokenBatch",
      logger,
    }),

    Mint: unary(
      async (req: MintRequest__Output, ctx) => {
        await authenticateInternal(ctx, deps.auth, deps.minterSpiffeId);
        return mint(req);
      },
      { name: "Mint", logger },
    ),

    MintBatch: unary(
      async (req: MintBatchRequest__Output, ctx) => {
        // One caller for the whole batch: authenticated once, before any item runs.
        await authenticateInternal(ctx, deps.auth, deps.minterSpiffeId);
        return { results: await answerBatch(req.items, mint, { name: "MintBatch", logger }) };
      },
      { name: "MintBatch", logger },
    ),

    Introspect: unary(
      async (req): Promise<IntrospectResponse> => {
        const { client } = await authenticateClient(req.client ?? {}, deps.auth);
        if (!req.token) throw invalidRequest("token is required");
        if (req.token.startsWith(REFRESH_PREFIX)) {
          // A refresh token is shown only to the client it was issued to.
          const grant = await deps.grantDeps.refresh.inspect(req.token);
          if (!grant || grant.client_id !== client.client_id) return { active: false };
          return {
            active: true,
            scope: grant.scope.join(" "),
            client_id: grant.client_id,
            sub: grant.sub,
            aud: grant.aud,
            exp: String(grant.exp),
            iat: String(grant.iat),
            iss: deps.issuer,
            token_type: "refresh_token",
          };
        }
        const claims = await inspectToken(req.token, deps);
        // RFC 7662 §4: only the token's holder or a resource server it was issued for learns about it; to anyone else
        // (the stack's internal client included: nothing of the stack introspects through here, so its secret, if
        // leaked, must not read every token) it is simply not active (no token scanning).
        const entitled = claims && (claims.client_id === client.client_id || audienceList(claims.aud).includes(client.client_id));
        // RFC 7662 §2.2: active only within the token's own time window, by this server's clock. The clock tolerance a
        // verifier grants another party's clock is no reason to tell a resource server an expired token is active (an
        // opaque token, whose claims only this answer gives, is held to its exp without it).
        if (!claims || !entitled || claims.exp <= deps.now()) return { active: false };
        const act = actToProto(claims.act);
        const vouching = subjectIssuer(claims);
        return {
          active: true,
          scope: Array.isArray(claims.scope) ? claims.scope.join(" ") : (claims.scope ?? ""),
          client_id: claims.client_id,
          sub: claims.sub,
          aud: audienceList(claims.aud),
          exp: String(claims.exp),
          iat: String(claims.iat),
          ...(typeof claims.nbf === "number" && { nbf: String(claims.nbf) }),
          iss: claims.iss,
          jti: claims.jti,
          token_type: "Bearer",
          ...(act && { act }),
          ...(vouching !== deps.issuer && { subject_issuer: vouching }),
        };
      },
      { name: "Introspect", logger },
    ),

    Revoke: unary(
      async (req, ctx) => {
        const { client } = await authenticateClient(req.client ?? {}, deps.auth);
        if (!req.token) throw invalidRequest("token is required");
        if (req.token.startsWith(REFRESH_PREFIX)) {
          // RFC 7009 §2: refresh tokens MUST be revocable. The family dies, and (§2.1) so do the access tokens issued
          // with it and with its newest token, all recorded before this answers.
          const revoked = await deps.grantDeps.refresh.revoke(req.token, client.client_id, familyRecorder(ctx.logger));
          if ("ignored" in revoked) {
            if (revoked.ignored === "another_client") logAnotherClientsToken(ctx.logger, client.client_id, "refresh_token");
            return {};
          }
          // A family revoked before (reuse, its subject, another of its tokens) keeps that revocation: this token's own
          // access token goes too.
          const { grant, revocation } = revoked;
          const covered = revocation.access.some((a) => a.jti === grant.access_jti);
          if (!covered && grant.access_exp !== undefined && stillAccepted(grant.access_exp)) {
            const claims = { jti: grant.access_jti, exp: grant.access_exp, client_id: grant.client_id, sub: grant.sub };
            await revokeAccess(claims, client.client_id, ctx.logger, { refresh_family: grant.family });
          }
          return {};
        }
        // A token its own revocation already ends is revoked again: the same record, the same event (see above).
        const claims = await inspectToken(req.token, deps, true);
        // RFC 7009 §2.2: an invalid or unknown token is answered as success.
        if (!claims) return {};
        if (claims.client_id !== client.client_id) {
          logAnotherClientsToken(ctx.logger, client.client_id, "access_token");
          return {};
        }
        await revokeAccess(claims, client.client_id, ctx.logger);
        return {};
      },
      { name: "Revoke", logger },
    ),

    UserInfo: unary(
      async (req) => {
        const claims = req.access_token ? await inspectToken(req.access_token, deps) : undefined;
        // RFC 6750 §3.1: any problem with the bearer token is invalid_token.
        if (!claims) throw new OAuthError("invalid_token", "access token is invalid or expired");
        const scopes = parseScopes(claims.scope);
        // RFC 6750 §3.1: a valid token without the scope the resource needs is insufficient_scope (403), not invalid.
        if (!scopes.includes("openid")) throw new OAuthError("insufficient_scope", "access token was not issued with openid");
        // The user directory describes this stack's subjects; another issuer's subject gets only its sub.
        const directory = subjectIssuer(claims) === deps.issuer ? deps.users : {};
        return { claims_json: JSON.stringify(userInfoClaims(claims.sub, scopes, directory)) };
      },
      { name: "UserInfo", logger },
    ),

    RevokeSubject: unary(
      async (req, ctx) => {
        // client_secret_basic is an internal service relaying a provider's logout; anything else must be an operator's token.
        const relayedBy = isBasicAuthorization(ctx) ? (await authenticateInternal(ctx, deps.auth, deps.minterSpiffeId)).client_id : undefined;
        const answer = await revokeSubject(req, ctx.metadata, deps.subjects, relayedBy);
        // Who and when, never the operator's token; the subject itself is in the event, kept out of logs.
        ctx.logger.info({ revoked_at: answer.revoked_at }, "subject revoked");
        return answer;
      },
      { name: "RevokeSubject", logger },
    ),

    GetJwks: unary(async () => ({ jwks_json: JSON.stringify(deps.ring.jwks()) }), { name: "GetJwks", logger }),

    AuthenticateClient: unary(
      async (req) => {
        const { client } = await authenticateClient(req.client ?? {}, deps.auth);
        return { client_id: client.client_id };
      },
      { name: "AuthenticateClient", logger },
    ),
  };
}

/** Builds the ClientService implementation (RFC 7591/7592 behind the gateway's /oauth2/register). */
export function clientService(deps: ManagementDeps, logger: Logger): ClientServiceHandlers {
  return {
    Register: unary(async (req) => ({ metadata_json: JSON.stringify(await registerClient(req.bearer, req.metadata_json, deps)) }), {
      name: "Register",
      logger,
    }),
    Get: unary(async (req) => ({ metadata_json: JSON.stringify(await readClient(req.bearer, req.client_id, deps)) }), { name: "Get", logger }),
    Update: unary(async (req) => ({ metadata_json: JSON.stringify(await updateClient(req.bearer, req.client_id, req.metadata_json, deps)) }), {
      name: "Update",
      logger,
    }),
    Delete: unary(
      async (req) => {
        await deleteClient(req.bearer, req.client_id, deps);
        return { metadata_json: "" };
      },
      { name: "Delete", logger },
    ),
  };
}
