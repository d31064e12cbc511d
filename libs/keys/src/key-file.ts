/**
 * Reading keys.jwk_file: the one private JWK an issuer may sign with instead of the ring's own keys, checked once here
 * so that a key no verifier should trust (too small, meant for encryption, a kid no record can carry) stops the start.
 */
import { createPublicKey } from "node:crypto";
import type { JsonWebKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { calculateJwkThumbprint } from "jose";
import type { JWK } from "jose";
import { MAX_KID_CHARS, importSigningKey } from "@sts/jwt";
import type { SigningKey } from "@sts/jwt";

/** Smallest RSA modulus for RS256 and PS256 (RFC 7518 §3.3, §3.5: "2048 bits or larger MUST be used"). */
const MIN_RSA_BITS = 2048;

/**
 * What a kid may be: the key is stored under `key.<kid>` in the keys bucket, so only what a NATS KV key may hold
 * (letters, digits, `-`, `_`, `=`, `/`, dots between them), and what KeyService.Withdraw accepts.
 */
export const KID_SYNTAX = /^[-/=\w]+(?:\.[-/=\w]+)*$/;

/** A key file, read and checked: its signing key and the public JWK to publish. */
export interface FileKey {
  kid: string;
  alg: string;
  signing: SigningKey;
  /** Only public members, derived from the private key, with kid, alg and use. */
  publicJwk: JWK;
}

/** Reads the JSON of `file` without ever quoting it: V8's SyntaxError quotes the text around the fault (key bytes). */
function readJwk(file: string): Record<string, unknown> {
  let jwk: unknown;
  try {
    jwk = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    if (err instanceof SyntaxError) throw new TypeError(`${file} is not valid JSON`);
    throw err;
  }
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk) || typeof (jwk as JWK).d !== "string") throw new TypeError(`${file} holds no private key`);
  return jwk as Record<string, unknown>;
}

/** Refuses members that say the key is not for signing (RFC 7517 §4.2 `use`, §4.3 `key_ops`) or are not strings. */
function checkMembers(file: string, jwk: Record<string, unknown>): void {
  if (jwk.alg !== undefined && typeof jwk.alg !== "string") throw new TypeError(`${file}: its alg is not a string`);
  if (jwk.kid !== undefined && (typeof jwk.kid !== "string" || !KID_SYNTAX.test(jwk.kid))) {
    throw new TypeError(`${file}: its kid must be a string of letters, digits, "-", "_", "=", "/" and inner dots (it names the key's record)`);
  }
  if (jwk.use !== undefined && jwk.use !== "sig") throw new TypeError(`${file}: its use is not "sig": the key is not meant for signing`);
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes("sign"))) {
    throw new TypeError(`${file}: its key_ops do not include "sign": the key is not meant for signing`);
  }
}

/**
 * Reads and checks a private JWK file to sign with `alg` (the file's own alg when it names one); throws TypeError naming
 * the file and the fault, never its contents.
 */
export async function readKeyFile(file: string, alg: string): Promise<FileKey> {
  const jwk = readJwk(file);
  checkMembers(file, jwk);
  const fileAlg = (jwk.alg as string | undefined) ?? alg;
  // Derived from the private key, so only public members are published: not `oth`, and not the `key_ops: ["sign"]`
  // and `ext` a WebCrypto export carries, for which every jose verifier passes the key over (no applicable key).
  const publicJwk = createPublicKey({ key: jwk as JsonWebKey, format: "jwk" }).export({ format: "jwk" }) as JWK;
  const kid = (jwk.kid as string | undefined) ?? (await calculateJwkThumbprint(publicJwk));
  // Exchanged tokens list the kids of their ancestors (lineage_kids), which every verifier bounds.
  if (kid.length > MAX_KID_CHARS) throw new TypeError(`${file}: its kid is longer than ${MAX_KID_CHARS} characters`);
  const signing = importSigningKey(jwk, kid, fileAlg);
  const bits = signing.privateKey.asymmetricKeyDetails?.modulusLength;
  if (signing.privateKey.asymmetricKeyType === "rsa" && (bits ?? 0) < MIN_RSA_BITS) {
    throw new TypeError(`${file}: an RSA key of ${bits ?? "unknown"} bits; ${fileAlg} needs ${MIN_RSA_BITS} or more (RFC 7518 §3.3)`);
  }
  return { kid, alg: fileAlg, signing, publicJwk: { ...publicJwk, kid, alg: fileAlg, use: "sig" } };
}
