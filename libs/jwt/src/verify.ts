/**
 * The one JWT verification function of the stack. jose is permissive by
 * default (no `exp` required, future `iat` accepted, extra audiences
 * accepted), so every option is explicit here, input size is capped before any
 * crypto, and duplicate JSON members are refused.
 */
import { errors, jwtVerify } from "jose";
import type { JWTPayload, JWTVerifyGetKey, CryptoKey, KeyObject, ProtectedHeaderParameters } from "jose";
import { hasDuplicateMembers } from "./duplicate-members.js";

/** Why a token was refused; callers map it to the positional OAuth error. */
export const REJECTION_REASONS = [
  "too_large",
  "malformed",
  "duplicate_member",
  "algorithm",
  "unknown_key",
  "signature",
  "expired",
  "not_yet_valid",
  "issuer",
  "audience",
  "type",
  "missing_claim",
  "invalid_claim",
  "revoked",
] as const;

/** One rejection reason. */
export type RejectionReason = (typeof REJECTION_REASONS)[number];

/** Who a rejected token names: given only when its signature verified and its state refused it (revoked). */
export interface RejectedTokenNames {
  iss: string;
  sub: string;
  jti: string;
}

/** A token failed verification; `reason` is stable, `message` is safe to log. */
export class TokenRejected extends Error {
  override readonly name = "TokenRejected";
  // Private, behind a getter: an error serialiser that logs own enumerable members never copies a subject into a log.
  readonly #names: RejectedTokenNames | undefined;
  constructor(
    readonly reason: RejectionReason,
    message: string,
    options?: { cause?: unknown; names?: RejectedTokenNames },
  ) {
    super(message, options);
    this.#names = options?.names;
  }

  /** The verified names of the refused token, so a denial can record which token was tried; undefined unless its signature verified. */
  get names(): RejectedTokenNames | undefined {
    return this.#names;
  }
}

/** Options of verifyJwt; none has a permissive default. */
export interface VerifyJwtOptions {
  /** Key or key resolver (e.g. createLocalJWKSet); an unknown `kid` must fail. */
  key: CryptoKey | KeyObject | JWTVerifyGetKey;
  /** Accepted `alg` values; never `none`, never HMAC for asymmetric keys. */
  algorithms: readonly string[];
  /** Trusted issuer(s). */
  issuer: string | readonly string[];
  /** Required audience(s): the token's `aud` must contain one of them; omit only where no audience applies. */
  audience?: string | readonly string[];
  /** Accepted `typ` header value (e.g. `at+jwt`); undefined accepts any or none. */
  typ?: string | readonly string[];
  /**
   * Claims that must be present (`exp` is always required). `iat` is
   * required only when listed: RFC 7523 §3 makes it optional in assertions,
   * while the access token profiles list it. When present it must not be in
   * the future beyond the clock tolerance.
   */
  requiredClaims?: readonly string[];
  /** Largest accepted age from `iat`, in seconds. */
  maxTokenAge?: number;
  /** Clock skew tolerance in seconds. */
  clockTolerance: number;
  /** The clock, in seconds since epoch (tests move time through it). */
  now: () => number;
  /** Largest token accepted, in bytes, checked before decoding. */
  maxBytes: number;
}

/** A verified token. */
export interface VerifiedJwt<T extends JWTPayload = JWTPayload> {
  payload: T;
  header: ProtectedHeaderParameters;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Checks shape and duplicate members before any signature work. Each part must be canonical base64url (RFC 7515 §2):
 * a last character whose unused bits are not zero decodes to the same bytes, so without this check one token would
 * have up to 16 spellings per part that all verify, and every cache or single flight keyed by the token string (the
 * sidecar's exchanges, verified-token caches) would count each as a new token.
 */
export function precheckCompactJwt(token: string, maxBytes: number): void {
  if (typeof token !== "string" || token.length === 0) throw new TokenRejected("malformed", "token is empty");
  if (token.length > maxBytes) throw new TokenRejected("too_large", "token is too large");
  const parts = token.split(".");
  if (parts.length !== 3) throw new TokenRejected("malformed", "not a compact JWS");
  parts.forEach((part, i) => {
    if (!B64URL.test(part)) throw new TokenRejected("malformed", "not base64url");
    const bytes = Buffer.from(part, "base64url");
    if (bytes.toString("base64url") !== part) throw new TokenRejected("malformed", "not canonical base64url");
    if (i < 2 && hasDuplicateMembers(bytes.toString("utf8"))) throw new TokenRejected("duplicate_member", "duplicate JSON member");
  });
}

/** The RFC 7519 §2 NumericDate claims jose compares with the clock. */
const NUMERIC_DATES = ["exp", "nbf", "iat"] as const;

/**
 * The NumericDate claim (RFC 7519 §2: a JSON number of seconds) that is not a finite number, if any. JSON.parse
 * reads a numeral too large for a double (`1e400`) as Infinity and jose compares it like any number: an `exp` of
 * 1e400 never expires and an `iat` of -1e400 is older than every revocation and age bound. jose refuses only a
 * non-number (and its own signer refuses Infinity), so the check is here, once, for every verifier.
 */
function nonFiniteDate(payload: JWTPayload): string | undefined {
  return NUMERIC_DATES.find((claim) => typeof payload[claim] === "number" && !Number.isFinite(payload[claim]));
}

function typMatches(actual: unknown, wanted: string | readonly string[]): boolean {
  if (typeof actual !== "string") return false;
  const norm = (t: string): string => t.toLowerCase().replace(/^application\//, "");
  const list = typeof wanted === "string" ? [wanted] : wanted;
  return list.some((w) => norm(w) === norm(actual));
}

function classify(err: unknown): TokenRejected {
  if (err instanceof TokenRejected) return err;
  if (err instanceof errors.JWTExpired) return new TokenRejected("expired", "token expired", { cause: err });
  if (err instanceof errors.JWTClaimValidationFailed) {
    const claim = err.claim;
    if (claim === "nbf") return new TokenRejected("not_yet_valid", "token not yet valid", { cause: err });
    if (claim === "iss") return new TokenRejected("issuer", "untrusted issuer", { cause: err });
    if (claim === "aud") return new TokenRejected("audience", "audience mismatch", { cause: err });
    if (claim === "typ") return new TokenRejected("type", "unexpected token type", { cause: err });
    // A required claim that is absent is missing, whichever it is (an absent iat is not a "bad" one).
    if (err.reason === "missing") return new TokenRejected("missing_claim", `missing ${claim} claim`, { cause: err });
    if (claim === "iat") return new TokenRejected("invalid_claim", "bad iat", { cause: err });
    return new TokenRejected("invalid_claim", `invalid ${claim} claim`, { cause: err });
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return new TokenRejected("algorithm", "algorithm not allowed", { cause: err });
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return new TokenRejected("unknown_key", "no matching key", { cause: err });
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return new TokenRejected("signature", "bad signature", { cause: err });
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return new TokenRejected("malformed", "malformed token", { cause: err });
  // jose throws TypeError for some hostile inputs (an HS256 token against an
  // EC key): whatever failed, the token is not valid.
  return new TokenRejected("signature", "token verification failed", { cause: err });
}

/** Verifies a compact JWT with every check explicit; throws TokenRejected. */
export async function verifyJwt<T extends JWTPayload = JWTPayload>(token: string, options: VerifyJwtOptions): Promise<VerifiedJwt<T>> {
  try {
    precheckCompactJwt(token, options.maxBytes);
    const required = new Set(["exp", ...(options.requiredClaims ?? [])]);
    const result = await jwtVerify(token, options.key as JWTVerifyGetKey, {
      algorithms: [...options.algorithms],
      issuer: typeof options.issuer === "string" ? options.issuer : [...options.issuer],
      ...(options.audience !== undefined && { audience: typeof options.audience === "string" ? options.audience : [...options.audience] }),
      requiredClaims: [...required],
      clockTolerance: options.clockTolerance,
      currentDate: new Date(options.now() * 1000),
      ...(options.maxTokenAge !== undefined && { maxTokenAge: options.maxTokenAge }),
    });
    const nonFinite = nonFiniteDate(result.payload);
    if (nonFinite !== undefined) throw new TokenRejected("invalid_claim", `${nonFinite} is not a finite number`);
    if (options.typ !== undefined && !typMatches(result.protectedHeader.typ, options.typ)) {
      throw new TokenRejected("type", "unexpected token type");
    }
    // jose accepts an iat in the future; a token from the future is forged or from a broken clock.
    const iat = result.payload.iat;
    if (typeof iat === "number" && iat > options.now() + options.clockTolerance) {
      throw new TokenRejected("invalid_claim", "iat in the future");
    }
    return { payload: result.payload as T, header: result.protectedHeader };
  } catch (err) {
    throw classify(err);
  }
}
