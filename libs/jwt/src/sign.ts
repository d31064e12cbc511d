/** Signing of tokens with a private key from the key ring. */
import { SignJWT } from "jose";
import type { CryptoKey, JWTPayload, KeyObject } from "jose";

/** A key able to sign, with its published id. */
export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey | KeyObject;
}

/** Signs claims as a compact JWS with `kid` and `typ` in the protected header. */
export async function signJwt(claims: JWTPayload, key: SigningKey, typ: string): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ }).sign(key.privateKey);
}
