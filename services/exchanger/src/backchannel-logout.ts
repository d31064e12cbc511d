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
import { OAuthError, invalidRequest } from "@sts/errors";
import { TokenRejected, verifyJwt } from "@sts/jwt";
import { KeySourceUnavailable } from "./trusted-issuers.js";
import type { TrustedIssuers } from "./trusted-issuers.js";

/** The member of `events` that makes a JWT a logout token (§2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout";

/** Header `typ` values a logout token may carry (§2.4 recommends logout+jwt; providers that predate it send JWT or none). */
const LOGOUT_TYPES = new Set(["logout+jwt", "application/logout+jwt", "jwt"]);

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
  if (header.typ !== undefined && !LOGOUT_TYPES.has(header.typ.toLowerCase())) throw refused(`has typ ${header.typ}, not logout+jwt`);
  const events = payload.events;
  const event =
    typeof events === "object" && events !== null && !Array.isArray(events) ? (events as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT] : undefined;
  if (typeof event !== "object" || event === null || Array.isArray(event)) throw refused("carries no back-channel logout event");
  if (payload.nonce !== undefined) throw refused("carries a nonce (an ID token, not a logout token)");
  if (typeof payload.sub !== "string" || payload.sub === "") {
    throw refused("names no sub: this service keeps no sessions, so a logout by sid alone cannot be applied");
  }
  if (typeof payload.jti !== "string" || typeof payload.iat !== "number") throw refused("has a malformed jti or iat");
  const until = (typeof payload.exp === "number" ? payload.exp : o.now()) + o.clockTolerance;
  return { iss: issuer.issuer, sub: payload.sub, jti: payload.jti, iat: payload.iat, until };
}

/** Longest `jti` quoted in the audit record as it is; a longer one is quoted by its digest, within the reason's bound. */
const MAX_QUOTED_JTI = 64;

/** The `reason` a revocation made by a logout records: which logout token did it (its jti, never the token). */
export function logoutReason(logout: Logout): string {
  const jti = logout.jti.length <= MAX_QUOTED_JTI ? logout.jti : `sha256:${createHash("sha256").update(logout.jti).digest("base64url")}`;
  return `OpenID Connect back-channel logout (logout token ${jti})`;
}

/** Longest a logout token is remembered by its jti. */
const MAX_REMEMBERED_SECONDS = 3600;

/** Logout tokens remembered beyond this are dropped oldest first: a dropped one, replayed, only signs the user out again. */
const MAX_APPLIED_LOGOUTS = 10_000;

/**
 * The logout tokens this replica applied, by issuer and `jti`, until they expire: §2.6's replay check. Kept in
 * memory: a replay to another replica signs the user out once more, the worst a captured logout token can do.
 */
export class AppliedLogouts {
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
