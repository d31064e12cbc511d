/** Key generation for the supported signing algorithms. */
import { randomBytes } from "node:crypto";
import { exportJWK, generateKeyPair } from "jose";
import type { JWK } from "jose";

/** Algorithms the issuer can sign with. */
export const SIGNING_ALGS = ["ES256", "EdDSA", "RS256", "PS256"] as const;
/** One signing algorithm. */
export type SigningAlg = (typeof SIGNING_ALGS)[number];

/** A fresh key pair as JWKs, with a random kid. */
export async function generateSigningJwks(alg: SigningAlg): Promise<{ kid: string; publicJwk: JWK; privateJwk: JWK }> {
  const options =
    alg === "EdDSA"
      ? { crv: "Ed25519", extractable: true }
      : alg.startsWith("RS") || alg.startsWith("PS")
        ? { modulusLength: 3072, extractable: true }
        : { extractable: true };
  const { publicKey, privateKey } = await generateKeyPair(alg, options);
  const kid = randomBytes(12).toString("base64url");
  const meta = { kid, alg, use: "sig" };
  return { kid, publicJwk: { ...(await exportJWK(publicKey)), ...meta }, privateJwk: { ...(await exportJWK(privateKey)), ...meta } };
}
