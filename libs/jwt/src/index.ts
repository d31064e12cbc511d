export { verifyJwt, precheckCompactJwt, TokenRejected, REJECTION_REASONS } from "./verify.js";
export type { RejectedTokenNames } from "./verify.js";
export type { VerifyJwtOptions, VerifiedJwt, RejectionReason } from "./verify.js";
export { OWN_PROFILE, foreignProfile, verifyAccessToken } from "./access-token.js";
export type { TokenProfile, VerifiedAccessToken, VerifyAccessTokenOptions } from "./access-token.js";
export { hasDuplicateMembers } from "./duplicate-members.js";
export { importSigningKey, signJwt } from "./sign.js";
export type { SigningKey } from "./sign.js";
export {
  audienceList,
  actDepth,
  actSubjects,
  begunBy,
  isActClaim,
  isLineage,
  isLineageKids,
  isOriginClientId,
  isMayAct,
  isIssSubFor,
  isTokenRevoked,
  lineageOf,
  lineageWithActor,
  MAX_CLIENT_ID_CHARS,
  MAX_SUBJECT_BYTES,
  MAX_KID_CHARS,
  MAX_LINEAGE,
  revocableClaimsOf,
  subjectIssuer,
} from "./claims.js";
export type { AccessTokenClaims, ActClaim, MayActClaim, RevocableClaims, RevocationLookups, RevocationState } from "./claims.js";
export { TOKEN_TYPE, ISSUABLE_TOKEN_TYPES, ACCESS_TOKEN_TYP, JWT_BEARER, TOKEN_EXCHANGE_GRANT } from "./token-types.js";
export { issuerEndpoint } from "./issuer-endpoint.js";
export type { TokenTypeUrn } from "./token-types.js";
export { VerifiedTokens } from "./verified-tokens.js";
export { KEY_SET_RETRY_MS, KeySourceUnavailable, holdOffAfterFailure, publicJwkProblem, remoteKeySet } from "./remote-keys.js";
export { MAX_KEY_SET_BYTES, KeySetTooLarge, announcedLargerThan, boundedKeySetFetch, readBounded } from "./bounded-fetch.js";
export { MIN_RSA_BITS, verificationKeyProblem } from "./verification-key.js";
