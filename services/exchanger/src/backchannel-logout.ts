/**
 * OpenID Connect Back-Channel Logout 1.0 (§2.4, §2.6) for the trusted
 * issuers configured with `backchannel_logout`: when a user signs out at the
 * provider (Keycloak, an enterprise IdP), the provider posts a logout token,
 * and every token this stack made for that user stops working at once,
 * instead of living on until it expires.
 *
 * The logout token is the only credential, so it is checked as strictly as
 * an access token: the provider's own keys and algorithms, `iss`, `aud` (the
 * client id this stack has at the provider), `iat`, `exp` and `jti` present,
 * the back-channel logout event, and no `nonce` (what tells it from an ID
 * token). Its `typ`, when present, must be `logout+jwt` or `JWT`: never an
 * access token's `at+jwt`. This stack keeps no sessions, so a token naming
 * only a `sid` cannot be acted on and is refused; one naming `sub` signs that
 * provider's subject out (the issuer's RevokeSubject).
 */
import { createHash } from "node:crypto";
import { decodeJwt } from "jose";
import { OAuthError, invalidRequest, isCleanText, isShownAsWritten } from "@sts/errors";
import type { RevokeSubjectRequest, RevokeSubjectResponse__Output } from "@sts/proto";
import type { Logger } from "@sts/telemetry";
import { KeySourceUnavailable, MAX_SUBJECT_BYTES, TokenRejected, verifyJwt } from "@sts/jwt";
import type { TrustedIssuers } from "./trusted-issuers.js";

/** The member of `events` that makes a JWT a logout token (§2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout";

/** Header `typ` values a logout token may carry (§2.4 recommends logout+jwt; providers that predate it send JWT or none). */
const LOGOUT_TYPES = new Set(["logout+jwt", "application/logout+jwt", "jwt"]);

/**
 * Oldest a logout token may be, from its `iat` (seconds, the clock tolerance on top). A logout token is sent when the
 * user signs out, and retried by the provider for minutes at most (§4 asks for an `exp` within two minutes). Replays
 * of one applied are answered from the revocation it left, but that record expires with the tokens it covered; a token
 * older than this would, replayed after it, sign the user out again after they came back, so it is refused, whatever
 * `exp` it carries: some providers set `exp` hours or days ahead.
 */
export const MAX_LOGOUT_TOKEN_AGE_SECONDS = 600;

/** A verified logout token: whom the provider signed out, and when. */
export interface Logout {
  iss: string;
  sub: string;
  jti: string;
  /** When the provider issued the logout token (seconds). */
  iat: number;
  /** Until when it verifies (seconds, the clock tolerance included): a replay after that is refused anyway. */
  until: number;
}

/** How logout tokens are checked. */
export interface LogoutVerifyOptions {
  clockTolerance: number;
  now: () => number;
  maxBytes: number;
}

/** A refused logout token: invalid_request, the description safe to return and log (it never repeats the token). */
const refused = (why: string, cause?: unknown): OAuthError => invalidRequest(`logout_token ${why}`, cause);

/** Verifies a logout token from a trusted issuer configured for back-channel logout; invalid_request otherwise. */
export async function verifyLogoutToken(token: string, issuers: TrustedIssuers, o: LogoutVerifyOptions): Promise<Logout> {
  if (!token) throw invalidRequest("logout_token is required");
  if (token.length > o.maxBytes) throw refused("is too large");
  let claimed: unknown;
  try {
    claimed = decodeJwt(token).iss;
  } catch (err) {
    throw refused("is not a JWT", err);
  }
  const issuer = issuers.get(claimed);
  if (!issuer?.logoutAudience) throw refused("is not from a trusted issuer that may sign users out here");
  let verified: Awaited<ReturnType<typeof verifyJwt>>;
  try {
    verified = await verifyJwt(token, {
      key: issuer.keys,
      algorithms: issuer.algorithms,
      issuer: issuer.issuer,
      audience: issuer.logoutAudience,
      requiredClaims: ["iat", "jti"],
      maxTokenAge: MAX_LOGOUT_TOKEN_AGE_SECONDS,
      clockTolerance: o.clockTolerance,
      now: o.now,
      maxBytes: o.maxBytes,
    });
  } catch (err) {
    // The provider's key set out of reach is our outage: the provider retries, nothing is signed out on a guess.
    if (err instanceof TokenRejected && err.cause instanceof KeySourceUnavailable) {
      throw new OAuthError("temporarily_unavailable", "the logout token's issuer cannot be reached to verify it", { cause: err.cause });
    }
    throw refused(`failed verification: ${err instanceof TokenRejected ? err.message : "invalid"}`, err);
  }
  const { header, payload } = verified;
  // The header is the provider's JSON, whatever its type: a typ that is not a string is a bad token, never our 500.
  const typ: unknown = header.typ;
  if (typ !== undefined && (typeof typ !== "string" || !LOGOUT_TYPES.has(typ.toLowerCase()))) throw refused("has a typ other than logout+jwt or JWT");
  const events = payload.events;
  const event =
    typeof events === "object" && events !== null && !Array.isArray(events) ? (events as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT] : undefined;
  if (typeof event !== "object" || event === null || Array.isArray(event)) throw refused("carries no back-channel logout event");
  if (payload.nonce !== undefined) throw refused("carries a nonce (an ID token, not a logout token)");
  if (typeof payload.sub !== "string" || payload.sub === "") {
    throw refused("names no sub: this service keeps no sessions, so a logout by sid alone cannot be applied");
  }
  // No token of ours names a longer subject (the exchange refuses one), and RevokeSubject takes none: a bad token from the
  // provider, never our server_error for it to retry forever.
  if (Buffer.byteLength(payload.sub, "utf8") > MAX_SUBJECT_BYTES) throw refused(`names a sub longer than ${MAX_SUBJECT_BYTES} bytes`);
  // Nor a sub with a control character or broken UTF-16, which the exchange refuses too: signing it out would revoke
  // nobody, and write the character into the revocations and the subject.revoked event an auditor's terminal shows.
  if (!isCleanText(payload.sub)) throw refused("names a sub holding a control character or broken UTF-16");
  // §2.4: jti is the token's unique identifier, and the replay check (§2.6) keys on it: an empty one names no token,
  // and would make every later empty-jti logout of this provider, for any subject, read as one applied already.
  if (typeof payload.jti !== "string" || payload.jti === "" || typeof payload.iat !== "number") throw refused("has a malformed jti or iat");
  // verifyJwt requires a numeric exp of every token (drafts before the final §2.4 made it optional; a provider that
  // leaves it out is refused), so the replay record lasts as long as the token verifies.
  const until = (payload.exp as number) + o.clockTolerance;
  return { iss: issuer.issuer, sub: payload.sub, jti: payload.jti, iat: payload.iat, until };
}

/** Longest `jti` quoted in the audit record as it is; a longer one is quoted by its digest, within the reason's bound. */
const MAX_QUOTED_JTI = 64;

/**
 * The `reason` a revocation made by a logout records: which logout token did it (its jti, never the token). A jti is
 * any string the provider chose (RFC 7519 §4.1.7); RevokeSubject takes only a reason that is one line of text reading
 * as written, and refusing the reason would refuse the logout itself (500, never applied, whatever the provider
 * retries). So a jti that would not read as written (a line break, a control or bidi character) is quoted by its
 * digest too.
 */
export function logoutReason(logout: Logout): string {
  const quotable = logout.jti.length <= MAX_QUOTED_JTI && isShownAsWritten(logout.jti);
  const jti = quotable ? logout.jti : `sha256:${createHash("sha256").update(logout.jti).digest("base64url")}`;
  return `OpenID Connect back-channel logout (logout token ${jti})`;
}

/** Longest a logout token is remembered by its jti. */
const MAX_REMEMBERED_SECONDS = 3600;

/** Logout tokens remembered beyond this are dropped oldest first: a dropped one, replayed, only signs the user out again. */
const MAX_APPLIED_LOGOUTS = 10_000;

/**
 * The logout tokens this replica applied, by issuer and `jti`, until they expire: §2.6's replay check. Kept in
 * memory; another replica knows them by the revocation on record (BackchannelLogouts).
 */
class AppliedLogouts {
  readonly #applied = new Map<string, { until: number; revokedAt: number }>();

  constructor(private readonly now: () => number) {}

  /** When the revocation this logout token made took effect, if it was applied here and has not expired. */
  revokedAt(logout: Logout): number | undefined {
    const hit = this.#applied.get(keyOf(logout));
    return hit && hit.until >= this.now() ? hit.revokedAt : undefined;
  }

  /** Remembers an applied logout token until it expires. */
  remember(logout: Logout, revokedAt: number): void {
    const now = this.now();
    for (const [key, entry] of this.#applied) {
      if (entry.until >= now && this.#applied.size < MAX_APPLIED_LOGOUTS) break;
      this.#applied.delete(key);
    }
    // A provider's long-lived logout token is remembered for an hour at most: past that, the check by time stands in.
    this.#applied.set(keyOf(logout), { until: Math.min(logout.until, now + MAX_REMEMBERED_SECONDS), revokedAt });
  }
}

const keyOf = (logout: Logout): string => `${logout.iss}\n${logout.jti}`;

/** How long a verified logout the stack could not apply is retried. */
const LOGOUT_RETRY_MS = 10 * 60_000;
/** Verified logouts being retried at once, at most; past it a new one is not retried (an outage that long is logged). */
const MAX_PENDING_LOGOUTS = 1_000;

/** What applying logouts needs. */
export interface BackchannelLogoutDeps {
  trusted: TrustedIssuers;
  verify: LogoutVerifyOptions;
  /** The issuer's RevokeSubject, called as the exchanger's internal client. */
  revokeSubject: (request: RevokeSubjectRequest) => Promise<RevokeSubjectResponse__Output>;
  /** The revocation on record for a subject, as this replica has seen it. */
  subjectRevokedAt: (iss: string, sub: string) => number | undefined;
  logger: Logger;
}

/**
 * A provider's back-channel logouts: verified here (its keys are the exchanger's to fetch), applied by the issuer.
 * A logout token applied already (the provider's retry, a replay) changes nothing, so a replay cannot sign the user
 * out again after they came back: this replica knows the ones it applied by `jti` (§2.6), exactly; one applied
 * elsewhere is known by a revocation on record at least as late as its `iat`, which compares two clocks and so is
 * exact only up to the clock tolerance. One the stack cannot apply now (NATS or the issuer away, or this replica's
 * copy of the revocations too old to tell whether it was applied) is answered temporarily_unavailable and retried
 * here, each retry checking again whether it was applied meanwhile: some providers (Keycloak) never send it again.
 */
export class BackchannelLogouts {
  readonly #applied: AppliedLogouts;
  readonly #pending = new Set<string>();

  constructor(private readonly deps: BackchannelLogoutDeps) {
    this.#applied = new AppliedLogouts(deps.verify.now);
  }

  /** Verifies a logout token and signs its subject out; the revocation's time. invalid_request for a bad token. */
  async handle(logoutToken: string): Promise<number> {
    const { logger } = this.deps;
    let logout: Logout;
    try {
      logout = await verifyLogoutToken(logoutToken, this.deps.trusted, this.deps.verify);
    } catch (err) {
      if (err instanceof OAuthError && err.code === "invalid_request") logger.warn({ reason: err.description }, "logout token refused");
      throw err;
    }
    try {
      return await this.#settle(logout);
    } catch (err) {
      // Not the logout token's fault (our internal credentials, a pin, a limit): the provider must not read it as a bad token.
      const oauth = err instanceof OAuthError ? err : undefined;
      logger.error({ issuer: logout.iss, code: oauth?.code, reason: oauth?.description }, "back-channel logout verified but not applied");
      if (oauth?.code !== "temporarily_unavailable") throw new OAuthError("server_error", "the logout could not be applied", { cause: err });
      this.#retry(logout);
      throw oauth;
    }
  }

  /**
   * Applies a verified logout unless it was applied already; the revocation's time. Both the first attempt and every
   * retry go through here: a revocation state too old to trust (NATS cut off past revocation_max_staleness) is an
   * outage to retry, never a reason to drop the logout, and a retry finding that another replica applied the token
   * meanwhile (the provider posted it again there) must not sign the user out a second time, after they came back.
   */
  async #settle(logout: Logout): Promise<number> {
    const applied = this.#applied.revokedAt(logout);
    if (applied !== undefined) return applied;
    // revoked_at runs a clock tolerance ahead, which absorbs the provider's clock being that much ahead.
    const covered = this.deps.subjectRevokedAt(logout.iss, logout.sub);
    if (covered !== undefined && covered >= logout.iat) return covered;
    return this.#apply(logout);
  }

  /** Has the issuer revoke the logout's subject; remembers the token as applied. Returns revoked_at. */
  async #apply(logout: Logout): Promise<number> {
    // Signed out as of the logout token's iat, not of this call: a retry (ours or the provider's) or a late relay
    // must not also revoke a session the user began since.
    const request = { iss: logout.iss, sub: logout.sub, reason: logoutReason(logout), signed_out_at: logout.iat };
    const { revoked_at } = await this.deps.revokeSubject(request);
    const revokedAt = Number(revoked_at);
    this.#applied.remember(logout, revokedAt);
    this.deps.logger.info({ issuer: logout.iss, revoked_at: revokedAt }, "back-channel logout applied");
    return revokedAt;
  }

  /** Retries, backing off from 1 s to 10 s, for up to ten minutes; in memory, so a replica that stops takes its retries with it. */
  #retry(logout: Logout, attempt = 0, since = Date.now()): void {
    const key = keyOf(logout);
    if (attempt === 0 && (this.#pending.has(key) || this.#pending.size >= MAX_PENDING_LOGOUTS)) return;
    this.#pending.add(key);
    setTimeout(
      () => {
        this.#settle(logout).then(
          () => this.#pending.delete(key),
          (err: unknown) => {
            const retryable = err instanceof OAuthError && err.code === "temporarily_unavailable";
            if (retryable && Date.now() - since < LOGOUT_RETRY_MS) return this.#retry(logout, attempt + 1, since);
            this.#pending.delete(key);
            this.deps.logger.error({ issuer: logout.iss, err }, "back-channel logout given up: the user stays signed in here until their tokens expire");
          },
        );
      },
      Math.min(1_000 * 2 ** attempt, 10_000),
    ).unref();
  }
}
