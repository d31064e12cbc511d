/**
 * An issuer's JWK Set (RFC 7517) fetched over HTTP and cached by jose, with
 * one distinction jose does not make: a key set that cannot be had (network,
 * timeout, a bad response) is the verifier's outage, to be answered as
 * retryable, while a `kid` that names no key, or several, is the token's
 * fault. Also what a key set given to others to verify with may hold: public
 * keys only.
 */
import { createRemoteJWKSet, customFetch, errors } from "jose";
import type { FetchImplementation, JWTVerifyGetKey, RemoteJWKSetOptions } from "jose";
import { boundedKeySetFetch } from "./bounded-fetch.js";

/** The issuer's key set could not be had: our failure, not the token's. verifyJwt's TokenRejected carries it as `cause`. */
export class KeySourceUnavailable extends Error {}

/** jose errors that are the token's fault: its kid names no key, or more than one. */
const TOKEN_FAULTS: ReadonlySet<string> = new Set([errors.JWKSNoMatchingKey.code, errors.JWKSMultipleMatchingKeys.code]);

/** How long a key set whose fetch failed is left alone before it is asked again. */
export const KEY_SET_RETRY_MS = 5_000;

/**
 * Whether `text` is what jose takes as a JWK Set (RFC 7517 §5): a JSON object whose `keys` is an array of objects.
 * Whether each key is usable is jose's to say, key by key, once a token names it.
 */
function isJwkSetText(text: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return false;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return false;
  const keys = (parsed as { keys?: unknown }).keys;
  return Array.isArray(keys) && keys.every((k) => typeof k === "object" && k !== null && !Array.isArray(k));
}

/**
 * `fetchImpl`, except that for `holdMs` after a failed fetch it fails at once without asking. A failed fetch is no
 * answer, an answer other than 200, or a 200 whose body is no JWK Set (a proxy's HTML error page, an empty or cut
 * body): jose keeps no record of any of them and fetches again for every verification that needs keys it lacks, so
 * a key set whose server was down, or answered garbage, was asked once per incoming token, and tokens naming made-up
 * kids made that a flood aimed at the server, from every verifier. Verifications the cached keys answer never fetch:
 * they go on unaffected. `fetchImpl` must bound what it reads (boundedKeySetFetch, keyServerFetch): the body of a 200
 * is read here whole.
 */
export function holdOffAfterFailure(fetchImpl: FetchImplementation, holdMs = KEY_SET_RETRY_MS, now: () => number = Date.now): FetchImplementation {
  let failedAt = -Infinity;
  return async (url, init) => {
    if (now() - failedAt < holdMs) throw new Error(`not asked again within ${holdMs} ms of a failed fetch`);
    try {
      const res = await fetchImpl(url, init);
      // jose takes nothing but 200: it says why the others failed, without reading them.
      if (res.status !== 200) {
        failedAt = now();
        return res;
      }
      const body = await res.text();
      if (!isJwkSetText(body)) throw new Error("the key set server's answer is not a JWK Set");
      return new Response(body, { status: 200, headers: { "content-type": res.headers.get("content-type") ?? "application/json" } });
    } catch (err) {
      failedAt = now();
      throw err;
    }
  };
}

/**
 * jose's remote key set whose failures to fetch throw KeySourceUnavailable, saying whose key set (`whose`) it was;
 * after a failed fetch it asks again only once {@link KEY_SET_RETRY_MS} has passed, and an answer larger than
 * MAX_KEY_SET_BYTES is not read (a failed fetch too).
 */
export function remoteKeySet(url: URL, options: RemoteJWKSetOptions, whose: string): JWTVerifyGetKey {
  const fetchImpl = boundedKeySetFetch(undefined, options[customFetch] ?? fetch);
  const remote = createRemoteJWKSet(url, { ...options, [customFetch]: holdOffAfterFailure(fetchImpl) });
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      if (err instanceof errors.JOSEError && TOKEN_FAULTS.has(err.code)) throw err;
      throw new KeySourceUnavailable(`JWK Set of ${whose} unavailable: ${(err as Error).message}`, { cause: err });
    }
  };
}

/**
 * JWK members that carry private or symmetric key values (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2), and those of
 * the AKP key type (ML-DSA for JOSE, RFC 9964: `priv`, and `seed` as its drafts and some tools write it), which jose
 * imports as a private key as readily as an EC key with `d`.
 */
const KEY_VALUE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv", "seed"] as const;

/**
 * What makes `jwk` more than a public key, or undefined when it is one: a key set a party gives others to verify its
 * signatures with is read by all of them (for a client, by every exchanger and sidecar, through the clients bucket),
 * so a private key in it, or a symmetric one (`oct`, a shared secret by nature), would let any of them sign as that
 * party (OpenID Connect Dynamic Client Registration §2: MUST NOT). The answer names members, never their values.
 */
export function publicJwkProblem(jwk: object): string | undefined {
  if ((jwk as { kty?: unknown }).kty === "oct") return "a symmetric key (kty oct): public keys only";
  const members = KEY_VALUE_MEMBERS.filter((member) => Object.hasOwn(jwk, member));
  return members.length > 0 ? `holds private key values (${members.join(", ")}): public keys only` : undefined;
}
