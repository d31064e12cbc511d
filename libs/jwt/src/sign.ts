/**
 * Signing of tokens as compact JWS (RFC 7515 §7.1). The signature is made
 * with node:crypto's synchronous sign, not jose's WebCrypto path: WebCrypto
 * signs on the libuv thread pool, one asynchronous round trip per token, and
 * under load that hop, and the separate NATS write per token it caused, were
 * the issuer's largest costs. Everything else about JOSE (verification, key
 * import for verifiers, JWKS) stays with jose, and the tests verify every
 * algorithm signed here with jose's jwtVerify.
 */
import { constants, createPrivateKey, sign } from "node:crypto";
import type { JsonWebKey, KeyObject } from "node:crypto";
import type { JWTPayload } from "jose";

/** A key able to sign, with its published id. */
export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: KeyObject;
}

/** How each supported alg signs (RFC 7518 §3.3–3.5, RFC 8037 §3.1) and which key it needs. */
const ALGS: Record<string, { keyType: string; curve?: string; sign: (input: Buffer, key: KeyObject) => Buffer }> = {
  // JWS carries R||S (IEEE P1363), not DER (RFC 7518 §3.4).
  ES256: { keyType: "ec", curve: "prime256v1", sign: (input, key) => sign("sha256", input, { key, dsaEncoding: "ieee-p1363" }) },
  EdDSA: { keyType: "ed25519", sign: (input, key) => sign(null, input, key) },
  RS256: { keyType: "rsa", sign: (input, key) => sign("sha256", input, key) },
  // PSS salt length equals the hash length (RFC 7518 §3.5).
  PS256: { keyType: "rsa", sign: (input, key) => sign("sha256", input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }) },
};

/** Imports a private JWK for alg; refuses a key of the wrong type or curve for that alg. */
export function importSigningKey(jwk: JsonWebKey, kid: string, alg: string): SigningKey {
  const spec = ALGS[alg];
  if (!spec) throw new TypeError(`unsupported signing alg ${alg}`);
  const privateKey = createPrivateKey({ key: jwk, format: "jwk" });
  const curve = privateKey.asymmetricKeyDetails?.namedCurve;
  if (privateKey.asymmetricKeyType !== spec.keyType || (spec.curve && curve !== spec.curve))
    throw new TypeError(`key ${kid} (${privateKey.asymmetricKeyType ?? "?"}${curve ? ` ${curve}` : ""}) cannot sign ${alg}`);
  return { kid, alg, privateKey };
}

const b64url = (s: string): string => Buffer.from(s).toString("base64url");

/** Signs claims as a compact JWS with `alg`, `kid` and `typ` in the protected header. */
export function signJwt(claims: JWTPayload, key: SigningKey, typ: string): string {
  const spec = ALGS[key.alg];
  if (!spec) throw new TypeError(`unsupported signing alg ${key.alg}`);
  const input = `${b64url(JSON.stringify({ alg: key.alg, kid: key.kid, typ }))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${spec.sign(Buffer.from(input), key.privateKey).toString("base64url")}`;
}
