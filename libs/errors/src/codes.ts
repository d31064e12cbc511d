/**
 * The closed set of OAuth error codes used across the stack, and the one table
 * mapping each to its HTTP status (gateway) and gRPC status (every service).
 */
import { status as GrpcStatus } from "@grpc/grpc-js";

/**
 * OAuth 2.0 error codes (RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 6750 §3.1), and `not_found`: no RFC's, the operator
 * APIs' answer when the thing a call names does not exist where it must (a policy id no config hop declares, for
 * PolicyService.Reset), so a caller can tell it from a malformed request. The OAuth endpoints never send it.
 * Likewise `failed_precondition`: a well-formed operator call that this deployment cannot carry out as configured
 * (rotating or withdrawing a signing key the issuer reads from keys.jwk_file, adding a policy past
 * policy.max_policies); retrying it changes nothing until the deployment or the set changes.
 */
export const OAUTH_ERROR_CODES = [
  "invalid_request",
  "invalid_client",
  "invalid_grant",
  "unauthorized_client",
  "unsupported_grant_type",
  "unsupported_token_type",
  "invalid_scope",
  "invalid_target",
  "invalid_token",
  "insufficient_scope",
  "invalid_client_metadata",
  "access_denied",
  "server_error",
  "temporarily_unavailable",
  "not_found",
  "failed_precondition",
] as const;

/** One of the RFC error codes. */
export type OAuthErrorCode = (typeof OAUTH_ERROR_CODES)[number];

interface Mapping {
  readonly http: number;
  readonly grpc: GrpcStatus;
}

/**
 * code → HTTP → gRPC. unsupported_token_type is RFC 7009 §2.2.1's code for
 * revocation; invalid_token is RFC 6750's for protected resources.
 */
export const ERROR_TABLE: Readonly<Record<OAuthErrorCode, Mapping>> = {
  invalid_request: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  invalid_scope: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  unsupported_grant_type: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  unsupported_token_type: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  invalid_client_metadata: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  invalid_client: { http: 401, grpc: GrpcStatus.UNAUTHENTICATED },
  invalid_token: { http: 401, grpc: GrpcStatus.UNAUTHENTICATED },
  insufficient_scope: { http: 403, grpc: GrpcStatus.PERMISSION_DENIED },
  invalid_grant: { http: 400, grpc: GrpcStatus.PERMISSION_DENIED },
  unauthorized_client: { http: 400, grpc: GrpcStatus.PERMISSION_DENIED },
  invalid_target: { http: 400, grpc: GrpcStatus.PERMISSION_DENIED },
  access_denied: { http: 403, grpc: GrpcStatus.PERMISSION_DENIED },
  temporarily_unavailable: { http: 503, grpc: GrpcStatus.UNAVAILABLE },
  server_error: { http: 500, grpc: GrpcStatus.INTERNAL },
  not_found: { http: 404, grpc: GrpcStatus.NOT_FOUND },
  failed_precondition: { http: 400, grpc: GrpcStatus.FAILED_PRECONDITION },
};

const CODE_SET: ReadonlySet<string> = new Set(OAUTH_ERROR_CODES);

/** Narrows an arbitrary string (e.g. from gRPC metadata) to a known code. */
export function isOAuthErrorCode(value: unknown): value is OAuthErrorCode {
  return typeof value === "string" && CODE_SET.has(value);
}

/** The operator APIs' own codes: for operators' tools, which read the raw gRPC status, never for OAuth clients. */
const OPERATOR_ONLY: ReadonlySet<string> = new Set(["not_found", "failed_precondition"]);

/**
 * Narrows a code another service sent to one a service may pass on to its own callers: an operator API's code
 * reaching a service is the upstream's failure (server_error), so no OAuth client ever sees one.
 */
export function isRelayableErrorCode(value: unknown): value is OAuthErrorCode {
  return isOAuthErrorCode(value) && !OPERATOR_ONLY.has(value);
}

/** HTTP status for a code. */
export function httpStatusOf(code: OAuthErrorCode): number {
  return ERROR_TABLE[code].http;
}

/** gRPC status for a code. */
export function grpcStatusOf(code: OAuthErrorCode): GrpcStatus {
  return ERROR_TABLE[code].grpc;
}

/**
 * grpc-js's own refusal of a message over the receiver's limit (its stream decoder, and its decompression filter for
 * a compressed one): the status a server of this stack answers for a request too large, before any handler runs.
 */
const MESSAGE_TOO_LARGE = /^Received message (?:larger than max \(\d+ vs\.? \d+\)|that decompresses to a size larger than \d+)$/;

/**
 * The code for a gRPC status received without the `oauth-error` metadata every handler of this stack attaches: it
 * came from the transport, a proxy or an RBAC filter, so it is never a verdict on the end client's credentials or
 * request (an UNAUTHENTICATED from a mesh filter is not the client's invalid_client). The one exception is grpc-js's
 * message-size refusal (`details`), which is the request's own size. Anything else is retryable when gRPC says so,
 * else our failure.
 */
export function codeFromGrpcStatus(status: GrpcStatus, details = ""): OAuthErrorCode {
  switch (status) {
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.DEADLINE_EXCEEDED:
    case GrpcStatus.CANCELLED:
      return "temporarily_unavailable";
    case GrpcStatus.RESOURCE_EXHAUSTED:
      // Any other RESOURCE_EXHAUSTED is load: a quota, or an HTTP/2 ENHANCE_YOUR_CALM reset, which grpc-js maps here.
      return MESSAGE_TOO_LARGE.test(details) ? "invalid_request" : "temporarily_unavailable";
    default:
      return "server_error";
  }
}
