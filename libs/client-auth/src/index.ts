export { authenticateClient, usesBasic } from "./authenticate.js";
export type { PresentedCredentials, AuthenticateDeps, AuthenticatedClient, AssertionVerifier } from "./authenticate.js";
export { ScryptGate, hashSecret, verifySecret } from "./secret-hash.js";
export { parseClientRecord } from "./client-record.js";
export type { ClientRecord } from "./client-record.js";
export { verifyClientSignedAssertion, ASSERTION_ALGS } from "./client-assertion.js";
export type { AssertionDeps, JtiRecorder, VerifiedAssertion } from "./client-assertion.js";
