/**
 * OAuth errors on gRPC: the status from the one table in @sts/errors, the
 * RFC code and public description in trailing metadata. The reverse
 * direction turns a received ServiceError back into the same OAuthError.
 */
import { Metadata } from "@grpc/grpc-js";
import type { ServiceError, StatusObject } from "@grpc/grpc-js";
import { OAuthError, codeFromGrpcStatus, grpcStatusOf, isRelayableErrorCode } from "@sts/errors";
import type { OAuthErrorCode } from "@sts/errors";

/** Metadata keys carrying the OAuth error across gRPC. */
export const ERROR_METADATA = { CODE: "oauth-error", DESCRIPTION: "oauth-error-description", RETRY_AFTER: "retry-after" } as const;

/** Public descriptions of the codes a status without our metadata maps to (codeFromGrpcStatus); the status's own text stays internal. */
const BARE_STATUS_DESCRIPTIONS: Partial<Record<OAuthErrorCode, string>> = {
  invalid_request: "request too large",
  temporarily_unavailable: "upstream service unavailable",
};

/** The gRPC status object for an OAuthError. */
export function statusFromOAuthError(err: OAuthError): StatusObject {
  const metadata = new Metadata();
  metadata.set(ERROR_METADATA.CODE, err.code);
  metadata.set(ERROR_METADATA.DESCRIPTION, err.description);
  if (err.retryAfter !== undefined) metadata.set(ERROR_METADATA.RETRY_AFTER, String(err.retryAfter));
  return { code: grpcStatusOf(err.code), details: err.description, metadata };
}

/** Turns a failed call back into an OAuthError (code from metadata, else from the status). */
export function errorFromServiceError(err: ServiceError): OAuthError {
  const code = err.metadata?.get(ERROR_METADATA.CODE)[0];
  if (isRelayableErrorCode(code)) {
    const description = err.metadata.get(ERROR_METADATA.DESCRIPTION)[0];
    const retry = Number(err.metadata.get(ERROR_METADATA.RETRY_AFTER)[0]);
    return new OAuthError(code, typeof description === "string" ? description : err.details, {
      cause: err,
      ...(Number.isFinite(retry) && { retryAfter: retry }),
    });
  }
  // Without our metadata the status is the transport's, a proxy's or a filter's, never a handler's verdict. grpc-js's
  // own size check is the one caller's input it names (a batch of several that meets it is not any one caller's
  // fault: the coalescer turns that into a 5xx).
  const mapped = codeFromGrpcStatus(err.code, err.details);
  return new OAuthError(mapped, BARE_STATUS_DESCRIPTIONS[mapped] ?? "upstream error", { cause: err });
}

/** One failed item of a batch, on the wire (the `ItemError` message). */
export interface ItemErrorWire {
  code: string;
  description: string;
  retry_after?: number;
}

/** The wire form of an OAuthError for one item of a batch. */
export function itemErrorFromOAuthError(err: OAuthError): ItemErrorWire {
  return { code: err.code, description: err.description, ...(err.retryAfter !== undefined && { retry_after: err.retryAfter }) };
}

/** A received item error back as the OAuthError the unary call would have raised; an unknown code is a server_error. */
export function errorFromItemError(err: ItemErrorWire | null | undefined): OAuthError {
  if (!err || !isRelayableErrorCode(err.code)) return new OAuthError("server_error", "upstream error");
  return new OAuthError(err.code, err.description, { ...(err.retry_after ? { retryAfter: err.retry_after } : {}) });
}
