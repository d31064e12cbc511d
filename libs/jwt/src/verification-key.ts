/** Whether a client's public key can verify its assertions here: the algorithms, key types and sizes this stack takes. */
import { createPublicKey } from "node:crypto";
import type { JsonWebKey, KeyObject } from "node:crypto";

/** Smallest RSA modulus taken for RS256 and PS256, to sign or verify (RFC 7518 §3.3, §3.5: "2048 bits or larger MUST be used"). */
export const MIN_RSA_BITS = 2048;

/** The key each assertion algorithm accepted here (ASSERTION_ALGS of @sts/client-auth) verifies with: its type and curve. */
const KEY_OF_ALG: Readonly<Record<string, string>> = { ES256: "ec P-256", ES384: "ec P-384", EdDSA: "ed25519", RS256: "rsa", PS256: "rsa" };

/** A public key's type as {@link KEY_OF_ALG} names it (`ec P-256`, `rsa`, `ed25519`). */
function keyKind(key: KeyObject): string {
  const type = key.asymmetricKeyType ?? "";
  if (type !== "ec") return type;
  // node names P-256 prime256v1 and P-384 secp384r1 (the JWK crv was checked as it was imported).
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return `ec ${curve === "prime256v1" ? "P-256" : curve === "secp384r1" ? "P-384" : String(curve)}`;
}

/**
 * Why a client's public JWK could never verify one of its assertions, or undefined. Such a key (`{"kty": "EC"}`
 * alone, an RSA key of 1024 bits, an X25519 key, one for encryption only, one jose's key set never selects) would be
 * stored and shown as registered, and every assertion the client then signed refused as a failed authentication, with
 * nothing telling why: it is refused where it is given, at registration (RFC 7591 §3.2.2 invalid_client_metadata) and
 * in the config file.
 * Fixed texts: nothing of the key is echoed.
 */
export function verificationKeyProblem(key: Record<string, unknown>): string | undefined {
  if (key.use !== undefined && key.use !== "sig") return "a key's use must be sig (RFC 7517 section 4.2)";
  if (key.key_ops !== undefined && !(Array.isArray(key.key_ops) && key.key_ops.includes("verify")))
    return "a key's key_ops must include verify (RFC 7517 section 4.3)";
  // jose imports a key with its key_ops as the WebCrypto usages, and a public key takes no usage but verify: with
  // `["verify", "sign"]` (as a key pair's export often reads) every import fails, and each assertion reads as a bad
  // signature. jose's key set also passes over a key whose key_ops repeat (RFC 7517 §4.3: MUST NOT), whose ext is not
  // a boolean, or whose kid is not a string (a token's kid, a string, never equals it).
  if (Array.isArray(key.key_ops) && (key.key_ops.length !== 1 || key.key_ops[0] !== "verify"))
    return "a public key's key_ops must be verify alone (RFC 7517 section 4.3)";
  if (key.ext !== undefined && typeof key.ext !== "boolean") return "a key's ext must be a boolean";
  if (key.kid !== undefined && typeof key.kid !== "string") return "a key's kid must be a string (RFC 7517 section 4.5)";
  if (key.alg !== undefined && (typeof key.alg !== "string" || !Object.hasOwn(KEY_OF_ALG, key.alg)))
    return "a key's alg must be one of ES256, ES384, EdDSA, RS256, PS256";
  let imported: KeyObject;
  try {
    imported = createPublicKey({ key: key as JsonWebKey, format: "jwk" });
  } catch {
    return "a key is not a well-formed EC, RSA or OKP public key";
  }
  const kind = keyKind(imported);
  if (!Object.values(KEY_OF_ALG).includes(kind)) return "keys must be EC P-256 or P-384, RSA, or Ed25519";
  if (kind === "rsa" && (imported.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS)
    return `an RSA key must have at least ${MIN_RSA_BITS} bits (RFC 7518 section 3.3)`;
  if (typeof key.alg === "string" && KEY_OF_ALG[key.alg] !== kind) return "a key's alg does not match its type or curve";
  return undefined;
}
