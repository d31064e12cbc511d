/** sts.exchange.v1.ExchangeService: RFC 8693 token exchange. */
import { OAuthError, invalidTarget, unauthorizedClient } from "@sts/errors";
import { authenticateClient } from "@sts/client-auth";
import type { AuthenticateDeps } from "@sts/client-auth";
import { unary } from "@sts/grpc";
import type { CallContext } from "@sts/grpc";
import {
  KeySourceUnavailable,
  MAX_LINEAGE,
  TOKEN_EXCHANGE_GRANT,
  TokenRejected,
  actDepth,
  actSubjects,
  audienceList,
  lineageOf,
  lineageWithActor,
  subjectIssuer,
  verifyAccessToken,
} from "@sts/jwt";
import type { AccessTokenClaims, VerifiedAccessToken, VerifiedTokens } from "@sts/jwt";
import type { PublicKeyRing } from "@sts/keys";
import { EVENT_TYPES } from "@sts/nats";
import type { EventPublisher } from "@sts/nats";
import type { RevocationList } from "@sts/revocation";
import { MAX_AUDIENCES, audienceWellFormed, requestedAudiences, tryParseScopes } from "@sts/scopes";
import type {
  Actor,
  BackchannelLogoutRequest__Output,
  BackchannelLogoutResponse,
  ExchangeRequest__Output,
  ExchangeResponse,
  ExchangeServiceHandlers,
  MintRequest,
  MintResponse__Output,
  RevokeSubjectRequest,
  RevokeSubjectResponse__Output,
} from "@sts/proto";
import type { Logger } from "@sts/telemetry";
import { decodeJwt } from "jose";
import type { DecisionCache } from "./decision-cache.js";
import { BackchannelLogouts } from "./backchannel-logout.js";
import type { TrustedIssuer, TrustedIssuers } from "./trusted-issuers.js";
import type { IntrospectionVerdict } from "./provider-introspection.js";
import {
  actingParty,
  allowanceForAll,
  badToken,
  buildActChain,
  checkCallerNotRevoked,
  checkDepth,
  checkNotExpired,
  checkMayAct,
  grantedScopes,
  mintTimes,
  parseExchangeParams,
  scopesToAsk,
  subjectNamesProblem,
  tokenTypeFor,
} from "./exchange-rules.js";
import type { ScopeAllowance } from "./exchange-rules.js";
import { lineageKidsFor } from "./lineage-kids.js";
import { policyDenialRecord } from "./policy-denial.js";
import type { PolicyDenialRecord } from "./policy-denial.js";
import { ownIdentityRefused } from "./upstream-refusals.js";

/** Everything the handler uses. */
export interface ExchangeDeps {
  issuer: string;
  auth: AuthenticateDeps;
  keys: PublicKeyRing;
  algorithms: readonly string[];
  revocations: RevocationList;
  /** Tokens verified before (exact string), to skip repeated signature checks. */
  verified: VerifiedTokens;
  /** Other issuers whose access tokens are accepted as subject tokens. */
  trusted: TrustedIssuers;
  decisions: DecisionCache;
  /** The issuer's Mint (the only signer), called as the exchanger's internal client. */
  mint: (request: MintRequest) => Promise<MintResponse__Output>;
  /** The issuer's RevokeSubject, called as the exchanger's internal client to apply a provider's back-channel logout. */
  revokeSubject: (request: RevokeSubjectRequest) => Promise<RevokeSubjectResponse__Output>;
  events: EventPublisher;
  now: () => number;
  clockTolerance: number;
  maxTokenBytes: number;
  maxDepth: number;
  logger: Logger;
}

function toActor(act: AccessTokenClaims["act"]): Actor | undefined {
  if (!act) return undefined;
  const inner = toActor(act.act);
  return inner ? { sub: act.sub, act: inner } : { sub: act.sub };
}

/**
 * The trusted issuer a subject token claims, if it claims one: routing by the
 * unverified `iss` only picks whose checks apply, and those verify `iss`
 * again. Actor tokens are always ours (the actor is the calling client).
 */
function foreignIssuer(token: string, deps: ExchangeDeps): TrustedIssuer | undefined {
  if (deps.trusted.empty || token.length > deps.maxTokenBytes) return undefined;
  let iss: unknown;
  try {
    iss = decodeJwt(token).iss;
  } catch {
    return undefined; // our own checks refuse it with their reason
  }
  return iss === deps.issuer ? undefined : deps.trusted.get(iss);
}

/** A verified subject token and who vouches for its subject. */
interface Subject {
  claims: AccessTokenClaims;
  /** The kid of the key that signed it (its protected header). */
  kid: string | undefined;
  /** The issuer that vouches for `sub`: a trusted issuer's, or, for our tokens, the origin they record (RFC 9493 sub_id). */
  origin: string;
  /** The lineage parent: our jti, or `<issuer>#<jti>` for another issuer's token, so no jti of theirs can name one of ours. */
  parentRef: string;
  /** The new token's `lineage`: our tokens it descends from. Another issuer's jtis are not ours to revoke, so none of theirs. */
  lineage: string[];
  /** The trusted issuer of another issuer's token (undefined for ours). */
  foreign?: TrustedIssuer;
}

/** A subject token's lineage parent (see Subject.parentRef): our jti as it is, another issuer's prefixed with that issuer. */
function parentRefOf(claims: { iss: string; jti: string }, foreign: boolean): string {
  return foreign ? `${claims.iss}#${claims.jti}` : claims.jti;
}

/** Verifies the subject token, ours or a trusted issuer's; another issuer's token may not bring an act chain of its own. */
async function verifySubject(token: string, deps: ExchangeDeps): Promise<Subject> {
  const foreign = foreignIssuer(token, deps);
  const { payload: claims, kid } = await verifyPresented(token, "subject_token", deps, foreign);
  checkNotExpired(claims.exp, "subject_token", deps.now());
  // A trusted issuer's names are its own choice, and must fit where they go (RevokeSubject, policy, events) before any is asked.
  const problem = subjectNamesProblem(claims);
  if (problem) throw badToken("subject_token", problem);
  if (!foreign) {
    // The new token names the subject token and its whole lineage, and Mint (every verifier too) takes at most
    // MAX_LINEAGE: a subject token already naming that many ancestors (actor tokens' lineages add up fast) can make
    // nothing. Its fault (RFC 8693 §2.2.2), found before the policy is asked, and never blamed on an actor token.
    const lineage = lineageOf(claims);
    if (lineage.length > MAX_LINEAGE) {
      throw badToken("subject_token", `its lineage already names ${MAX_LINEAGE} tokens, the most a token may carry: it cannot be exchanged on`);
    }
    return { claims, kid, origin: subjectIssuer(claims), parentRef: parentRefOf(claims, false), lineage };
  }
  // Its actors live in another issuer's namespace: carried over, they would read as clients of ours.
  if (claims.act !== undefined) throw badToken("subject_token", "a trusted issuer's token may not carry act");
  for (const [name, value] of Object.entries(foreign.claims)) {
    if (claims[name] !== value) throw badToken("subject_token", "not an access token of its issuer (a required claim differs)");
  }
  return { claims, kid, origin: claims.iss, parentRef: parentRefOf(claims, true), lineage: [], foreign };
}

/**
 * How a denial names a subject token that verified but was refused for its state (revoked): a revoked token presented
 * again is what an auditor looks for. Undefined for any other refusal, and for names the exchange would not carry.
 */
function refusedSubject(err: unknown, ownIssuer: string): { sub: string; ref: string } | undefined {
  const names = err instanceof OAuthError && err.cause instanceof TokenRejected ? err.cause.names : undefined;
  if (!names || subjectNamesProblem({ ...names, client_id: "", aud: [] })) return undefined;
  return { sub: names.sub, ref: parentRefOf(names, names.iss !== ownIssuer) };
}

/**
 * Asks a trusted issuer that introspects whether its token, verified here, is
 * still active there: a token it revoked (logout, a session ended) is a bad
 * subject token (RFC 8693 §2.2.2), and no answer is our outage, never an allow.
 */
async function checkActiveAtIssuer(token: string, subject: Subject): Promise<void> {
  const introspection = subject.foreign?.introspection;
  if (!introspection) return;
  let verdict: IntrospectionVerdict;
  try {
    verdict = await introspection.check(token, subject.claims);
  } catch (err) {
    throw new OAuthError("temporarily_unavailable", "the subject token's issuer cannot be reached to check that the token is still active", { cause: err });
  }
  if (verdict === "inactive") throw badToken("subject_token", "no longer active at its issuer (revoked there, or unknown to it)");
  if (verdict === "mismatch") throw badToken("subject_token", "its issuer's introspection answer is about another token");
}

/**
 * The client the chain began with, carried down every hop (empty: none): revoking it ends the hops made from its token
 * too. Another issuer's client is not ours to revoke (nor a name any of ours may take); one that is the new token's own
 * `client_id` goes without saying.
 */
function originClientOf(subject: Subject, caller: string): string {
  if (subject.foreign) return "";
  const origin = subject.claims.origin_client_id ?? subject.claims.client_id;
  return origin === caller ? "" : origin;
}

/**
 * The issuer's refusal to mint, in the caller's terms: its refusal of the exchanger's own credentials is our fault
 * (server_error), and its invalid_grant says the token the new one may not outlive expired on the issuer's clock, which
 * may run a moment ahead of ours: a bad subject or actor token (RFC 8693 §2.2.2).
 */
function mintRefusal(err: unknown, limitedBy: "subject_token" | "actor_token"): unknown {
  const refused = ownIdentityRefused(err, "issuer");
  if (refused) return refused;
  if (err instanceof OAuthError && err.code === "invalid_grant") return badToken(limitedBy, "expired before the new token could be made", err);
  return err;
}

/** Nothing was issued because nobody waits for it any more; never recorded as a denial (the request was not refused). */
const callerGone = (): OAuthError => new OAuthError("temporarily_unavailable", "the caller cancelled, or its deadline passed, before the token was minted");

async function verifyPresented(
  token: string,
  position: "subject_token" | "actor_token",
  deps: ExchangeDeps,
  foreign?: TrustedIssuer,
): Promise<VerifiedAccessToken> {
  try {
    return await verifyAccessToken(token, {
      key: foreign?.keys ?? deps.keys.keyResolver(),
      algorithms: foreign?.algorithms ?? deps.algorithms,
      issuer: foreign?.issuer ?? deps.issuer,
      ...(foreign && { profile: foreign.profile }),
      clockTolerance: deps.clockTolerance,
      now: deps.now,
      maxBytes: deps.maxTokenBytes,
      revocations: deps.revocations,
      maxActDepth: deps.maxDepth + 1,
      verified: deps.verified,
    });
  } catch (err) {
    // Revocation state too old to trust (NATS cut off past the bound) is our outage too: fail closed, and retryable.
    if (err instanceof OAuthError && err.code === "temporarily_unavailable") throw err;
    // A trusted issuer's key set we cannot fetch is our outage, not a bad token: retryable, and nothing issued.
    if (err instanceof TokenRejected && err.cause instanceof KeySourceUnavailable) {
      throw new OAuthError("temporarily_unavailable", "the subject token's issuer cannot be reached to verify it", { cause: err.cause });
    }
    // Whatever else failed (signature, alg, kid, exp, iss, typ, revoked), the answer is
    // invalid_request for this position (RFC 8693 §2.2.2), never a 5xx.
    if (err instanceof TokenRejected) throw badToken(position, err.message, err);
    throw badToken(position, "token verification failed", err);
  }
}

/** Builds the ExchangeService implementation. */
export function exchangeService(deps: ExchangeDeps): ExchangeServiceHandlers {
  const { logger } = deps;

  async function denied(
    err: OAuthError,
    callerId: string | undefined,
    req: ExchangeRequest__Output,
    subject: { sub: string; ref: string } | undefined,
    extra: Record<string, unknown> = {},
  ): Promise<never> {
    // The request may be a denial because of its audiences: record only well-formed ones, and how many were left out.
    const asked = requestedAudiences(req.audience, req.resource);
    const recorded = asked.filter(audienceWellFormed).slice(0, MAX_AUDIENCES);
    const data = {
      error: err.code,
      reason: err.description,
      client_id: callerId ?? null,
      audience: recorded,
      ...(recorded.length < asked.length && { audience_not_recorded: asked.length - recorded.length }),
      // The subject token as token.exchanged names a parent: `<provider>#<jti>` for a trusted issuer's, so no jti of a
      // provider's reads as one of this stack's.
      ...(subject && { subject_jti: subject.ref, sub: subject.sub }),
      ...extra,
    };
    // A denial is recorded best effort: failing to record it must not turn it into an allow.
    await deps.events.publish(EVENT_TYPES.EXCHANGE_DENIED, data).catch((e: unknown) => logger.warn({ err: e }, "exchange.denied not recorded"));
    throw err;
  }

  async function exchange(req: ExchangeRequest__Output, ctx: CallContext): Promise<ExchangeResponse> {
    const { client } = await authenticateClient(req.client ?? {}, deps.auth);
    let subject: AccessTokenClaims | undefined;
    // Who vouches for the subject and how its token is named, once known: denials record them too.
    let origin: string | undefined;
    let named: { sub: string; ref: string } | undefined;
    // The policy decision that refused the exchange, once one did: its denial records which audience, policies and why.
    let refusedBy: PolicyDenialRecord | undefined;
    try {
      if (!client.grant_types.includes(TOKEN_EXCHANGE_GRANT)) throw unauthorizedClient("client may not use token exchange");
      const params = parseExchangeParams(req, deps.maxTokenBytes);
      let verified: Subject;
      try {
        verified = await verifySubject(params.subjectToken, deps);
      } catch (err) {
        named = refusedSubject(err, deps.issuer);
        throw err;
      }
      subject = verified.claims;
      origin = verified.origin;
      named = { sub: subject.sub, ref: verified.parentRef };
      checkCallerNotRevoked(client.client_id, deps.issuer, subject.origin_iat ?? subject.iat, deps.revocations);
      const presentedActor = params.actorToken ? await verifyPresented(params.actorToken, "actor_token", deps) : undefined;
      const actor = presentedActor?.payload;
      if (actor) checkNotExpired(actor.exp, "actor_token", deps.now());
      const acting = actingParty(client.client_id, deps.issuer, actor);
      checkMayAct(subject, acting);
      const act = buildActChain(acting, subject.act);
      const lineage = actor ? lineageWithActor(verified.lineage, actor) : verified.lineage;
      if (!lineage) throw badToken("actor_token", "its lineage and the subject token's together are too long to carry");
      // Read before any decision: a subject token whose times Mint cannot take is refused here, not after policy allowed it.
      const times = mintTimes(subject, actor?.exp);

      // A scope claim we cannot read is a fault of the subject token (RFC 8693 §2.2.2), not of the request's scope.
      const subjectScopes = tryParseScopes(subject.scope);
      if (!subjectScopes) throw badToken("subject_token", "malformed scope claim");
      const asked = scopesToAsk(params.scope, subjectScopes);
      // After every local check (the actor token, may_act, the chain, the scope), before anything is decided or minted:
      // only a request that could succeed sends the user's token to its issuer, and a bad one gets its own error
      // (invalid_request, invalid_scope), never temporarily_unavailable because the issuer cannot answer just then.
      await checkActiveAtIssuer(params.subjectToken, verified);
      const subjectAud = audienceList(subject.aud);
      const callerInAudience = subjectAud.includes(client.client_id);
      let allowance: ScopeAllowance | undefined;
      const policyIds: string[] = [];
      let policyRevision = 0n;
      for (const audience of params.audiences) {
        const decision = await deps.decisions.decide({
          client_id: client.client_id,
          audience,
          requested_scopes: asked,
          // iss is who vouches for the subject, at every hop: policies can tell another issuer's subjects from ours.
          subject: { sub: subject.sub, client_id: subject.client_id, iss: verified.origin, scopes: subjectScopes, audience: subjectAud },
          depth: actDepth(act),
          actors: actSubjects(subject.act),
          caller_in_audience: callerInAudience,
        });
        if (!decision.allow) {
          refusedBy = policyDenialRecord(audience, decision);
          // A chain too deep for the permits that would otherwise have allowed it: the request's fault, as past the
          // global bound (invalid_request), not a target the caller may never reach.
          if (decision.max_depth > 0) checkDepth(act, decision.max_depth, deps.maxDepth);
          // The caller may not present a token it is not an audience of, unless a policy says so.
          if (!callerInAudience) throw badToken("subject_token", "not issued to the caller");
          throw invalidTarget("exchange to this audience is not permitted");
        }
        checkDepth(act, decision.max_depth, deps.maxDepth);
        policyIds.push(...decision.policy_ids);
        const revision = BigInt(decision.policy_revision || "0");
        if (revision > policyRevision) policyRevision = revision;
        // With several audiences, the token carries only what every one of them allows.
        const allowed: ScopeAllowance = { allowedScopes: decision.allowed_scopes, defaultScopes: decision.default_scopes };
        allowance = allowance ? allowanceForAll(allowance, allowed) : allowed;
      }
      const scope = grantedScopes(asked, subjectScopes, allowance ?? { allowedScopes: [], defaultScopes: [] });

      const mint: MintRequest = {
        sub: subject.sub,
        client_id: client.client_id,
        audience: params.audiences,
        scope: scope.join(" "),
        act: toActor(act),
        // The new token never outlives the one it was made from, nor the actor's own token.
        not_after: times.not_after,
        parent_jti: verified.parentRef,
        requested_token_type: params.requestedTokenType,
        event_type: EVENT_TYPES.TOKEN_EXCHANGED,
        subject_issuer: verified.origin,
        lineage,
        // Where the chain began, carried down every hop: a subject revocation this exchanger has not seen yet (it may
        // answer from its copy for up to revocation_max_staleness) still covers the token it makes now.
        origin_iat: times.origin_iat,
        origin_client_id: originClientOf(verified, client.client_id),
        lineage_kids: lineageKidsFor(
          { kid: verified.kid, claims: subject, foreign: verified.foreign !== undefined },
          presentedActor && { kid: presentedActor.kid, claims: presentedActor.payload, foreign: false },
        ),
        ...(actor && { actor_jti: actor.jti }),
        policy_ids: [...new Set(policyIds)],
        policy_revision: String(policyRevision),
      };
      // A token minted for a caller that has gone (the gateway gave up, a sidecar's call was cancelled) would be signed and
      // recorded for nobody: stop here. Past this point the token is made and recorded even if the caller goes.
      if (ctx.cancelled) throw callerGone();
      let minted: MintResponse__Output;
      try {
        minted = await deps.mint(mint);
      } catch (err) {
        throw mintRefusal(err, actor && actor.exp < subject.exp ? "actor_token" : "subject_token");
      }
      logger.debug({ client_id: client.client_id, jti: minted.jti, parent_jti: verified.parentRef }, "token exchanged");
      return {
        access_token: minted.access_token,
        issued_token_type: params.requestedTokenType,
        token_type: tokenTypeFor(params.requestedTokenType),
        expires_in: minted.expires_in,
        scope: minted.scope,
        jti: minted.jti,
      };
    } catch (err) {
      if (err instanceof OAuthError && err.code !== "server_error" && err.code !== "temporarily_unavailable") {
        return denied(err, client.client_id, req, named, { ...(origin ? { subject_issuer: origin } : {}), ...refusedBy });
      }
      throw err;
    }
  }

  const logouts = new BackchannelLogouts({
    trusted: deps.trusted,
    verify: { clockTolerance: deps.clockTolerance, now: deps.now, maxBytes: deps.maxTokenBytes },
    revokeSubject: deps.revokeSubject,
    subjectRevokedAt: (iss, sub) => deps.revocations.subjectRevokedAt(iss, sub),
    logger,
  });
  const backchannelLogout = async (req: BackchannelLogoutRequest__Output): Promise<BackchannelLogoutResponse> => ({
    revoked_at: String(await logouts.handle(req.logout_token)),
  });

  return {
    Exchange: unary(exchange, { name: "Exchange", logger }),
    BackchannelLogout: unary(backchannelLogout, { name: "BackchannelLogout", logger }),
  };
}
