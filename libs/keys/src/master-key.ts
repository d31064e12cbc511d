/**
 * Encryption at rest of private signing keys: AES-256-GCM under a key derived
 * (HKDF-SHA-256) from the operator's master key, with the kid as additional
 * data so a sealed key cannot be swapped under another kid.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/** A sealed private JWK as stored in NATS KV. */
export interface SealedKey {
  v: 1;
  iv: string;
  ct: string;
  tag: string;
}

const INFO = Buffer.from("mesh-sts signing key encryption v1");

const HEX = /^[0-9a-fA-F]+$/;
/** base64url or standard base64 (as `openssl rand -base64` writes it), padded or not. */
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * Parses a master key: 32+ random bytes, hex, base64url or base64 (line breaks, as openssl wraps long output,
 * ignored); throws TypeError when short or malformed. Strict, because Node's decoders skip what they cannot read: a
 * passphrase with spaces or punctuation would otherwise pass for a key made of whatever letters it has.
 */
export function parseMasterKey(text: string): Buffer {
  const compact = text.trim().replace(/\r?\n/g, "");
  let bytes: Buffer;
  if (HEX.test(compact) && compact.length >= 64) {
    // Node reads hex up to the first odd digit and drops the rest without a word.
    if (compact.length % 2 !== 0) throw new TypeError("master key: hex with an odd number of digits");
    bytes = Buffer.from(compact, "hex");
  } else if (BASE64.test(compact)) {
    bytes = Buffer.from(compact, "base64url");
  } else {
    throw new TypeError("master key must be hex, base64url or base64 (a passphrase is not a key: make one with `openssl rand -base64 32`)");
  }
  if (bytes.length < 32) throw new TypeError("master key must hold at least 32 random bytes (hex, base64url or base64)");
  return Buffer.from(hkdfSync("sha256", bytes, Buffer.alloc(0), INFO, 32));
}

/** Encrypts a private JWK for storage. */
export function sealPrivateJwk(jwk: object, kid: string, key: Buffer): SealedKey {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(kid));
  const ct = Buffer.concat([cipher.update(JSON.stringify(jwk), "utf8"), cipher.final()]);
  return { v: 1, iv: iv.toString("base64url"), ct: ct.toString("base64url"), tag: cipher.getAuthTag().toString("base64url") };
}

/** Decrypts a sealed private JWK; throws when the master key or kid does not match. */
export function openPrivateJwk(sealed: SealedKey, kid: string, key: Buffer): Record<string, unknown> {
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(sealed.iv, "base64url"));
  decipher.setAAD(Buffer.from(kid));
  decipher.setAuthTag(Buffer.from(sealed.tag, "base64url"));
  const plain = Buffer.concat([decipher.update(Buffer.from(sealed.ct, "base64url")), decipher.final()]);
  return JSON.parse(plain.toString("utf8")) as Record<string, unknown>;
}
