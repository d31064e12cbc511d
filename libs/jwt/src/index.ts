export { verifyJwt, precheckCompactJwt, TokenRejected, REJECTION_REASONS } from "./verify.js";
export type { VerifyJwtOptions, VerifiedJwt, RejectionReason } from "./verify.js";
export { hasDuplicateMembers } from "./duplicate-members.js";
export { signJwt } from "./sign.js";
export type { SigningKey } from "./sign.js";
export { audienceList, actDepth, actSubjects, isActClaim } from "./claims.js";
export type { AccessTokenClaims, ActClaim } from "./claims.js";
export { TOKEN_TYPE, ACCESS_TOKEN_TYP, JWT_BEARER, TOKEN_EXCHANGE_GRANT } from "./token-types.js";
export type { TokenTypeUrn } from "./token-types.js";
