/**
 * An issuer's JWK Set (RFC 7517) fetched over HTTP and cached by jose, with
 * one distinction jose does not make: a key set that cannot be had (network,
 * timeout, a bad response) is the verifier's outage, to be answered as
 * retryable, while a `kid` that names no key, or several, is the token's
 * fault.
 */
import { createRemoteJWKSet, errors } from "jose";
import type { JWTVerifyGetKey, RemoteJWKSetOptions } from "jose";

/** The issuer's key set could not be had: our failure, not the token's. verifyJwt's TokenRejected carries it as `cause`. */
export class KeySourceUnavailable extends Error {}

/** jose errors that are the token's fault: its kid names no key, or more than one. */
const TOKEN_FAULTS: ReadonlySet<string> = new Set([errors.JWKSNoMatchingKey.code, errors.JWKSMultipleMatchingKeys.code]);

/** jose's remote key set whose failures to fetch throw KeySourceUnavailable, saying whose key set (`whose`) it was. */
export function remoteKeySet(url: URL, options: RemoteJWKSetOptions, whose: string): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, options);
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      if (err instanceof errors.JOSEError && TOKEN_FAULTS.has(err.code)) throw err;
      throw new KeySourceUnavailable(`JWK Set of ${whose} unavailable: ${(err as Error).message}`, { cause: err });
    }
  };
}
