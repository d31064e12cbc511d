/**
 * The one place tokens are made. A token is handed out only after its
 * issuance event is durable in JetStream: if the event cannot be stored the
 * caller gets temporarily_unavailable and the token never leaves (fail closed).
 */
import { randomBytes } from "node:crypto";
import { invalidRequest, unavailable } from "@sts/errors";
import { ACCESS_TOKEN_TYP, actSubjects, signJwt } from "@sts/jwt";
import type { AccessTokenClaims, ActClaim, MayActClaim } from "@sts/jwt";
import type { SigningKeyRing } from "@sts/keys";
import type { EVENT_TYPES } from "@sts/nats";
import type { EventPublisher } from "@sts/nats";
import { getMeter } from "@sts/telemetry";
import { formatScopes } from "@sts/scopes";
import type { OpaqueTokens } from "./opaque-tokens.js";

const JTI_BYTES = 16;
let jtiPool = Buffer.alloc(0);
let jtiAt = 0;

/** 128 random bits, base64url. Drawn from a pooled buffer: one getrandom call per 256 tokens rather than one each (a jti is unique, not secret). */
function newJti(): string {
  if (jtiAt + JTI_BYTES > jtiPool.length) {
    jtiPool = randomBytes(JTI_BYTES * 256);
    jtiAt = 0;
  }
  jtiAt += JTI_BYTES;
  return jtiPool.toString("base64url", jtiAt - JTI_BYTES, jtiAt);
}

/** What to put in a token. */
export interface MintInput {
  sub: string;
  clientId: string;
  /** Primary audience first. */
  audience: readonly string[];
  scope: readonly string[];
  /** Lifetime wanted, in seconds; never more than the key ring's maxTokenLifetime (see TokenMinter). */
  ttl: number;
  /** Absolute cap on exp (exchanges never outlive their subject token). */
  notAfter?: number;
  act?: ActClaim;
  mayAct?: MayActClaim;
  parentJti?: string;
  /** jti of the actor token an exchange was made with (RFC 8693 actor_token), recorded in the event. */
  actorJti?: string;
  /** jtis of our tokens this one descends from, nearest first: revoking one of them revokes this token. */
  lineage?: readonly string[];
  /**
   * When the chain this token continues began (an exchange: the subject token's origin_iat or iat; a jwt-bearer
   * grant: the assertion's iat). Written as `origin_iat`, never later than `iat`: a subject revocation made since
   * covers this token too.
   */
  originIat?: number;
  /** The client of this stack the chain began with (an exchange: the subject token's origin_client_id or client_id): `origin_client_id`. */
  originClientId?: string;
  /**
   * kids of this issuer that signed the tokens this one descends from (an exchange: see MintRequest.lineage_kids):
   * `lineage_kids`, without the kid that signs this token.
   */
  lineageKids?: readonly string[];
  /** The policies that allowed an exchange, recorded in its event. */
  policy?: { ids: readonly string[]; revision: string };
  format: "jwt" | "opaque";
  /** Grant that led here, recorded in the event. */
  grantType: string;
  eventType: typeof EVENT_TYPES.TOKEN_ISSUED | typeof EVENT_TYPES.TOKEN_EXCHANGED | typeof EVENT_TYPES.TOKEN_REFRESHED;
  /** Issuer of the subject token, for exchanges. */
  subjectIssuer?: string;
  /** Refresh token family issued or rotated with this token, recorded in the event (the refresh token itself never is). */
  refreshFamily?: string;
  /** jti of the ID token handed out in the same response: it has no event of its own, so this one names it. */
  idTokenJti?: string;
  /** The admin client that asked for this token for its managed client (the dedicated token issuer), recorded in the event. */
  adminClientId?: string;
  /** jti of the assertion (RFC 7523, or the dedicated issuer's unsigned one) the token was granted on, recorded in the event. */
  assertionJti?: string;
}

/** A made token and what the response needs. */
export interface MintedToken {
  token: string;
  jti: string;
  expiresIn: number;
  exp: number;
  scope: string;
}

/** Payload of token.issued / token.exchanged events: a summary, never the token. */
export interface TokenEventData {
  jti: string;
  iss: string;
  sub: string;
  client_id: string;
  aud: string[];
  scope: string;
  iat: number;
  exp: number;
  grant_type: string;
  format: "jwt" | "opaque";
  kid?: string;
  parent_jti?: string;
  /** For an exchange made with an actor_token: its jti (the token the delegation rested on beside the subject token). */
  actor_jti?: string;
  /** Actor chain subjects, newest first. */
  actors?: string[];
  subject_issuer?: string;
  /** For exchanges: when the chain began and the client of this stack it began with (as in the token), for auditors tracing a revocation. */
  origin_iat?: number;
  origin_client_id?: string;
  /** For exchanges: the other keys of ours that signed its ancestors (as in the token), for auditors tracing a key withdrawal. */
  lineage_kids?: string[];
  /** The refresh token family that came with this token, if any. */
  refresh_family?: string;
  /** The ID token that came with this token, if any. */
  id_token_jti?: string;
  /**
   * The dedicated token issuer: the admin client that authenticated and asked for this token for its managed client
   * (`client_id`). Absent when the client asked for itself: an admin's request is never mistaken for its client's own.
   */
  admin_client_id?: string;
  /** A jwt-bearer grant: the jti of the assertion it was granted on (never the assertion), to match the client's own records. */
  assertion_jti?: string;
  /** For exchanges: the policies that allowed it and the revision of the policy set they belong to. */
  policy_ids?: string[];
  policy_revision?: string;
}

/** Dependencies of the minter. */
export interface MinterDeps {
  issuer: string;
  ring: SigningKeyRing;
  opaque: OpaqueTokens;
  events: EventPublisher;
  now: () => number;
  /**
   * Whether a kid of ours is in the revocations (its withdrawal begun): the minter does not sign with it, since every
   * verifier refuses what it signs. Throws temporarily_unavailable when that state is too old to trust.
   */
  signingKeyWithdrawn?: (kid: string) => boolean;
  /** Told when the signing key is revoked but still in the ring (a Withdraw cut off halfway), to complete it. */
  onSigningKeyWithdrawn?: (kid: string) => void;
  /** tokens.max_token_bytes: the largest token every verifier of this stack accepts; a JWT access token over it is not made. */
  maxTokenBytes?: number;
}

/** What an ID token says (OIDC Core §2). */
export interface IdTokenInput {
  sub: string;
  clientId: string;
  nonce?: string;
  /** Lifetime wanted, in seconds; never more than the key ring's maxTokenLifetime (see TokenMinter). */
  ttl: number;
}

/**
 * Makes signed or opaque access tokens and records each one. No token lives longer than the ring's maxTokenLifetime,
 * whatever TTL a client's record holds (one registered before an operator lowered the limit keeps the higher one): the
 * ring publishes an old key, and keeps a withdrawn key's revocation record, only that long, so a token living longer
 * would be refused with its key retired, or verify again once its key's withdrawal is forgotten.
 */
export class TokenMinter {
  readonly #issued = getMeter("@sts/issuer").createCounter("sts.tokens.issued", {
    description: "Access tokens handed out (each after its event is durable), by grant type and format",
  });

  constructor(private readonly deps: MinterDeps) {}

  /**
   * The ring's signing key, unless its withdrawal has begun: a token it signed would be refused everywhere, so the
   * caller gets temporarily_unavailable and retries once a successor signs (completing the withdrawal is asked for).
   */
  #signingKey(): ReturnType<SigningKeyRing["signingKey"]> {
    const key = this.deps.ring.signingKey();
    if (this.deps.signingKeyWithdrawn?.(key.kid)) {
      this.deps.onSigningKeyWithdrawn?.(key.kid);
      throw unavailable("the signing key is being withdrawn; retry shortly");
    }
    return key;
  }

  /** The exp of a token issued at `iat` wanting `ttl` seconds, held to the ring's bound. */
  #expiry(iat: number, ttl: number): number {
    return iat + Math.min(ttl, this.deps.ring.maxTokenLifetime);
  }

  /** Signs an ID token for a client (aud = client_id), echoing the nonce; its jti goes into the access token's event. */
  idToken(input: IdTokenInput): { token: string; jti: string } {
    const iat = this.deps.now();
    const jti = newJti();
    const key = this.#signingKey();
    const token = signJwt(
      // No auth_time (OIDC Core §2): the user is not present in these grants, so no authentication happened at iat.
      { iss: this.deps.issuer, sub: input.sub, aud: input.clientId, iat, exp: this.#expiry(iat, input.ttl), jti, ...(input.nonce && { nonce: input.nonce }) },
      key,
      "JWT",
    );
    return { token, jti };
  }

  /** Mints one token; resolves only after its event is durable. */
  async mint(input: MintInput): Promise<MintedToken> {
    const { issuer, opaque, events, now } = this.deps;
    const iat = now();
    let exp = this.#expiry(iat, input.ttl);
    if (input.notAfter !== undefined) exp = Math.min(exp, input.notAfter);
    const jti = newJti();
    const scope = formatScopes([...input.scope]);
    // Picked before the claims: lineage_kids leaves out the kid in the header, whose withdrawal revokes the token anyway,
    // so the tokens of a chain no rotation crossed carry no such claim and grow by nothing.
    const key = input.format === "jwt" ? this.#signingKey() : undefined;
    const lineageKids = input.lineageKids?.filter((k) => k !== key?.kid) ?? [];
    const claims: AccessTokenClaims = {
      iss: issuer,
      sub: input.sub,
      aud: input.audience.length === 1 ? (input.audience[0] as string) : [...input.audience],
      exp,
      iat,
      jti,
      client_id: input.clientId,
      ...(scope && { scope }),
      ...(input.act && { act: input.act }),
      ...(input.mayAct && { may_act: input.mayAct }),
      ...(input.lineage && input.lineage.length > 0 && { lineage: [...input.lineage] }),
      ...(input.originIat !== undefined && { origin_iat: Math.min(input.originIat, iat) }),
      ...(input.originClientId !== undefined && { origin_client_id: input.originClientId }),
      ...(lineageKids.length > 0 && { lineage_kids: lineageKids }),
      // A subject another issuer vouched for keeps saying so at every later hop (RFC 9493 iss_sub).
      ...(input.subjectIssuer && input.subjectIssuer !== issuer && { sub_id: { format: "iss_sub", iss: input.subjectIssuer, sub: input.sub } }),
    };
    let token: string;
    if (key === undefined) {
      token = await opaque.create(claims);
    } else {
      // Synchronous on purpose: the tokens of one batch are signed and their events written to NATS in one turn.
      token = signJwt(claims, key, ACCESS_TOKEN_TYP);
      // Every verifier here refuses it unread (precheckCompactJwt): refused now, before it is recorded as issued.
      if (this.deps.maxTokenBytes !== undefined && token.length > this.deps.maxTokenBytes) {
        throw invalidRequest(
          `the token would be ${token.length} bytes, more than the ${this.deps.maxTokenBytes} every verifier accepts (tokens.max_token_bytes): ask for fewer audiences or scopes`,
        );
      }
    }
    const data: TokenEventData = {
      jti,
      iss: issuer,
      sub: input.sub,
      client_id: input.clientId,
      aud: [...input.audience],
      scope,
      iat,
      exp,
      grant_type: input.grantType,
      format: input.format,
      ...(key && { kid: key.kid }),
      ...(input.parentJti && { parent_jti: input.parentJti }),
      ...(input.actorJti && { actor_jti: input.actorJti }),
      ...(input.act && { actors: actSubjects(input.act) }),
      ...(input.subjectIssuer && { subject_issuer: input.subjectIssuer }),
      ...(claims.origin_iat !== undefined && { origin_iat: claims.origin_iat }),
      ...(claims.origin_client_id !== undefined && { origin_client_id: claims.origin_client_id }),
      ...(claims.lineage_kids !== undefined && { lineage_kids: [...claims.lineage_kids] }),
      ...(input.refreshFamily && { refresh_family: input.refreshFamily }),
      ...(input.idTokenJti && { id_token_jti: input.idTokenJti }),
      ...(input.adminClientId && { admin_client_id: input.adminClientId }),
      ...(input.assertionJti && { assertion_jti: input.assertionJti }),
      ...(input.policy && { policy_ids: [...input.policy.ids], policy_revision: input.policy.revision }),
    };
    await events.publish(input.eventType, data, { subject: jti });
    this.#issued.add(1, { "sts.grant_type": input.grantType, "sts.token.format": input.format });
    return { token, jti, exp, expiresIn: exp - iat, scope };
  }
}
