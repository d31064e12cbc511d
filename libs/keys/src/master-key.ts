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

/** Parses a master key: 32+ random bytes, base64url or hex; throws TypeError when weak or malformed. */
export function parseMasterKey(text: string): Buffer {
  const trimmed = text.trim();
  const bytes = /^[0-9a-fA-F]{64,}$/.test(trimmed) ? Buffer.from(trimmed, "hex") : Buffer.from(trimmed, "base64url");
  if (bytes.length < 32) throw new TypeError("master key must hold at least 32 random bytes (base64url or hex)");
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
