/**
 * OAuthError: the only error type that crosses a wire. Its description is
 * public; `cause` is internal detail for logs and never serialized.
 */
import type { OAuthErrorCode } from "./codes.js";
import { isOAuthErrorCode, httpStatusOf } from "./codes.js";

/** Descriptions are ASCII without control characters and never echo input. */
const SAFE_DESCRIPTION = /^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/;

/** Largest Retry-After carried: the proto's int32 `retry_after` holds no more. */
const MAX_RETRY_AFTER = 2 ** 31 - 1;

/**
 * A Retry-After value as HTTP can send it (RFC 9110 §10.2.3 delay-seconds: digits only), or undefined for none: a
 * fraction rounds up, a negative one is 0, and what is no finite number (a relayed `retry-after` that did not parse)
 * is none, so `-1`, `1.5` or `1e+21` never reaches a header.
 */
function delaySeconds(value: number | undefined): number | undefined {
  if (value === undefined || !Number.isFinite(value)) return undefined;
  return Math.min(MAX_RETRY_AFTER, Math.max(0, Math.ceil(value)));
}

/** Options for an OAuthError. */
export interface OAuthErrorOptions {
  /** Internal detail for logs; never sent to the caller. */
  cause?: unknown;
  /** Seconds for Retry-After (temporarily_unavailable; 1 when absent), sent as a whole number of seconds. */
  retryAfter?: number;
}

/** An RFC error with a code from the closed set and a public description. */
export class OAuthError extends Error {
  override readonly name = "OAuthError";
  readonly code: OAuthErrorCode;
  readonly description: string;
  readonly retryAfter: number | undefined;

  constructor(code: OAuthErrorCode, description: string, options: OAuthErrorOptions = {}) {
    if (!isOAuthErrorCode(code)) throw new TypeError(`unknown OAuth error code: ${String(code)}`);
    // RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
    const safe = SAFE_DESCRIPTION.test(description) ? description : description.replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, "?");
    super(`${code}: ${safe}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.description = safe;
    this.retryAfter = delaySeconds(options.retryAfter) ?? (code === "temporarily_unavailable" ? 1 : undefined);
  }

  /** HTTP status of this error. */
  get status(): number {
    return httpStatusOf(this.code);
  }

  /** The RFC 6749 §5.2 JSON body. */
  toJSON(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.code, error_description: this.description };
  }
}

/** Anything not an OAuthError becomes server_error; the original stays as cause. */
export function toOAuthError(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  return new OAuthError("server_error", "internal error", { cause: err });
}

/** Shorthands, one per code, so call sites read as the RFC does. */
export const invalidRequest = (d: string, cause?: unknown): OAuthError => new OAuthError("invalid_request", d, { cause });
export const invalidClient = (d: string, cause?: unknown): OAuthError => new OAuthError("invalid_client", d, { cause });
export const invalidGrant = (d: string, cause?: unknown): OAuthError => new OAuthError("invalid_grant", d, { cause });
export const invalidScope = (d: string, cause?: unknown): OAuthError => new OAuthError("invalid_scope", d, { cause });
export const invalidTarget = (d: string, cause?: unknown): OAuthError => new OAuthError("invalid_target", d, { cause });
export const unauthorizedClient = (d: string, cause?: unknown): OAuthError => new OAuthError("unauthorized_client", d, { cause });
export const unavailable = (d: string, cause?: unknown): OAuthError => new OAuthError("temporarily_unavailable", d, { cause });
