export { authenticateClient, basicAuthorization, basicCredentials, usesBasic } from "./authenticate.js";
export type { PresentedCredentials, AuthenticateDeps, AuthenticatedClient, AssertionVerifier } from "./authenticate.js";
export { ScryptGate, hashSecret, verifySecret } from "./secret-hash.js";
export { isClientMarker, parseClientRecord } from "./client-record.js";
export type { ClientRecord } from "./client-record.js";
export {
  verifyClientSignedAssertion,
  checkClientSignedAssertion,
  spendAssertionJti,
  assertionAudiences,
  ASSERTION_ALGS,
  CLIENT_AUTHENTICATION_FAILED,
  CLIENT_AUTHENTICATION_TYP,
} from "./client-assertion.js";
export type { AssertionDeps, JtiRecorder, VerifiedAssertion } from "./client-assertion.js";
export { ClientKeySets, KeyServerRefused, MAX_JWKS_BYTES, guardedLookup, keyServerFetch } from "./jwks-fetch.js";
export type { ClientKeySetsOptions, KeyServerFetchOptions } from "./jwks-fetch.js";
export { KeyServerAddresses, jwksUriProblem } from "./key-server-address.js";
