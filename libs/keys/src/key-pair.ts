/**
 * Whether a public key is the public half of a private key. A JWK's public members are taken as written, never
 * derived from its private part: Node keeps an EC key's `x`/`y`, an OKP key's `x` and an RSA key's `n` as given, so a
 * key whose halves disagree imports without a word and signs tokens that the key published for them refuses.
 */
import { createPublicKey, sign, verify } from "node:crypto";
import type { JsonWebKey, KeyObject } from "node:crypto";

/** What the pairwise test signs: any fixed message does. */
const PROBE = Buffer.from("mesh-sts signing key pairwise consistency test");

/** The public key a JWK names, or undefined when it names none Node can read. */
function publicKeyOf(jwk: object): KeyObject | undefined {
  try {
    return createPublicKey({ key: jwk as JsonWebKey, format: "jwk" });
  } catch {
    return undefined;
  }
}

/**
 * Whether `publicJwk` verifies what `privateKey` signs: the pairwise consistency test FIPS 140-3 asks of every new
 * key pair, here run on keys that come from a file or a store. False for a public JWK of another type or curve.
 */
export function isPublicHalfOf(publicJwk: object, privateKey: KeyObject): boolean {
  const publicKey = publicKeyOf(publicJwk);
  if (!publicKey || publicKey.asymmetricKeyType !== privateKey.asymmetricKeyType) return false;
  // Ed25519 signs the message itself, ECDSA and RSA a digest of it; the padding does not matter to the test.
  const digest = privateKey.asymmetricKeyType === "ed25519" ? null : "sha256";
  try {
    return verify(digest, PROBE, publicKey, sign(digest, PROBE, privateKey));
  } catch {
    return false;
  }
}
