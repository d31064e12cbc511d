/**
 * Reading keys.jwk_file: the one private JWK an issuer may sign with instead of the ring's own keys, checked once here
 * so that a key no verifier should trust (too small, meant for encryption, a kid no record can carry, public members
 * not its own, a file others may rewrite) or one for another alg than keys.algorithm stops the start.
 */
import { createPublicKey } from "node:crypto";
import type { JsonWebKey } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { calculateJwkThumbprint } from "jose";
import type { JWK } from "jose";
import { MAX_KID_CHARS, MIN_RSA_BITS, importSigningKey } from "@sts/jwt";
import type { SigningKey } from "@sts/jwt";
import { isPublicHalfOf } from "./key-pair.js";

/** Mode bits (group and other write) that let someone besides the file's owner rewrite it. */
const WRITABLE_BY_OTHERS = 0o022;

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
  /** Only public members (checked to be the private key's public half), with kid, alg and use. */
  publicJwk: JWK;
}

/**
 * Refuses a key file that users other than its owner may write, `stake` saying what its writer would control: the key
 * the issuer signs with, the master key it seals keys with (sshd's StrictModes refuses such files for the same reason).
 */
export function checkOwnerOnlyWrites(file: string, stake: string): void {
  if ((statSync(file).mode & WRITABLE_BY_OTHERS) !== 0) {
    throw new TypeError(`${file} may be written by users other than its owner: whoever rewrites it chooses ${stake} (chmod go-w)`);
  }
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
 * Reads and checks a private JWK file to sign with `alg` (keys.algorithm, which the file's alg must then be when it
 * names one); throws TypeError naming the file and the fault, never its contents.
 */
export async function readKeyFile(file: string, alg: string): Promise<FileKey> {
  checkOwnerOnlyWrites(file, "the key the issuer signs with");
  const jwk = readJwk(file);
  checkMembers(file, jwk);
  // keys.algorithm is what the stack says it signs with (the ring's next key, the metadata before a key set is known):
  // a file naming another alg (RFC 7517 §4.4) contradicts the config, which is stopped here rather than guessed at.
  if (jwk.alg !== undefined && jwk.alg !== alg) {
    throw new TypeError(`${file}: its alg is not keys.algorithm (${alg}): set keys.algorithm to the alg the key is meant for`);
  }
  // Only the public members are published: not `oth`, and not the `key_ops: ["sign"]` and `ext` a WebCrypto export
  // carries, for which every jose verifier passes the key over (no applicable key). Node takes them as the file writes
  // them, not from the private part: that they are its public half is checked below.
  const publicJwk = createPublicKey({ key: jwk as JsonWebKey, format: "jwk" }).export({ format: "jwk" }) as JWK;
  const kid = (jwk.kid as string | undefined) ?? (await calculateJwkThumbprint(publicJwk));
  // Exchanged tokens list the kids of their ancestors (lineage_kids), which every verifier bounds.
  if (kid.length > MAX_KID_CHARS) throw new TypeError(`${file}: its kid is longer than ${MAX_KID_CHARS} characters`);
  const signing = importSigningKey(jwk, kid, alg);
  const bits = signing.privateKey.asymmetricKeyDetails?.modulusLength;
  if (signing.privateKey.asymmetricKeyType === "rsa" && (bits ?? 0) < MIN_RSA_BITS) {
    throw new TypeError(`${file}: an RSA key of ${bits ?? "unknown"} bits; ${alg} needs ${MIN_RSA_BITS} or more (RFC 7518 §3.3)`);
  }
  // Otherwise the issuer would start, publish one key and sign with another: every token it issued refused everywhere.
  if (!isPublicHalfOf(publicJwk, signing.privateKey)) {
    throw new TypeError(`${file}: its public members are not those of its private key: what it signed would not verify against the key published for it`);
  }
  return { kid, alg, signing, publicJwk: { ...publicJwk, kid, alg, use: "sig" } };
}
