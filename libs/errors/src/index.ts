export { OAUTH_ERROR_CODES, ERROR_TABLE, isOAuthErrorCode, isRelayableErrorCode, httpStatusOf, grpcStatusOf, codeFromGrpcStatus } from "./codes.js";
export type { OAuthErrorCode } from "./codes.js";
export {
  OAuthError,
  toOAuthError,
  invalidRequest,
  invalidClient,
  invalidGrant,
  invalidScope,
  invalidTarget,
  unauthorizedClient,
  unavailable,
} from "./oauth-error.js";
export type { OAuthErrorOptions } from "./oauth-error.js";
export { isWellFormed, isCleanText, isShownAsWritten, escapeUnshown } from "./text.js";
