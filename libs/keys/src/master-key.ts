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
/** The only record version sealPrivateJwk writes. */
const SEALED_VERSION = 1;
const IV_BYTES = 12;
/** GCM's full tag: Node accepts shorter ones unless told, and a 4-byte tag is forged in about 2^32 tries. */
const TAG_BYTES = 16;
const MIN_KEY_BYTES = 32;
/**
 * Fewest distinct byte values a master key may hold: 32 random bytes hold fewer than 16 with a probability of about
 * 3e-17, while a repeated character or pattern ("a".repeat(43), "00…") holds a handful.
 */
const MIN_DISTINCT_BYTES = 16;

const HEX = /^[0-9a-fA-F]+$/;
/** Standard base64 (as `openssl rand -base64` writes it) or base64url, one alphabet or the other, padded or not. */
const BASE64 = /^(?:[A-Za-z0-9+/]+|[A-Za-z0-9_-]+)={0,2}$/;

/** The bytes `text` is the exact base64 or base64url encoding of (no stray bits in its last character, right padding), or undefined. */
function decodeBase64Exactly(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const bare = text.replace(/=+$/, "");
  if (bare.length !== text.length && text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(bare, "base64url");
  return bytes.toString("base64url") === bare.replace(/\+/g, "-").replace(/\//g, "_") ? bytes : undefined;
}

/**
 * Parses a master key: 32+ random bytes, hex, base64url or base64 (line breaks, as openssl wraps long output,
 * ignored); throws TypeError when short, malformed or plainly not random. Strict, because Node's decoders skip what
 * they cannot read: a passphrase with spaces or punctuation would otherwise pass for a key made of whatever letters it
 * has, and one of base64 letters only for the bytes they happen to decode to. So the text must be exactly the
 * encoding of its bytes (text of hex digits only is read as hex), and the bytes must hold at least
 * {@link MIN_DISTINCT_BYTES} distinct values.
 */
export function parseMasterKey(text: string): Buffer {
  const compact = text.trim().replace(/\r?\n/g, "");
  let bytes: Buffer | undefined;
  if (HEX.test(compact)) {
    // Node reads hex up to the first odd digit and drops the rest without a word.
    if (compact.length % 2 !== 0) throw new TypeError("master key: hex with an odd number of digits");
    bytes = Buffer.from(compact, "hex");
  } else {
    bytes = decodeBase64Exactly(compact);
  }
  if (!bytes) {
    throw new TypeError("master key must be hex, base64url or base64 (a passphrase is not a key: make one with `openssl rand -base64 32`)");
  }
  if (bytes.length < MIN_KEY_BYTES) throw new TypeError("master key must hold at least 32 random bytes (hex, base64url or base64)");
  if (new Set(bytes).size < MIN_DISTINCT_BYTES) {
    throw new TypeError("master key is not random (too few distinct bytes): make one with `openssl rand -base64 32`");
  }
  return Buffer.from(hkdfSync("sha256", bytes, Buffer.alloc(0), INFO, 32));
}

/** Encrypts a private JWK for storage. */
export function sealPrivateJwk(jwk: object, kid: string, key: Buffer): SealedKey {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(kid));
  const ct = Buffer.concat([cipher.update(JSON.stringify(jwk), "utf8"), cipher.final()]);
  return { v: SEALED_VERSION, iv: iv.toString("base64url"), ct: ct.toString("base64url"), tag: cipher.getAuthTag().toString("base64url") };
}

/**
 * Decrypts a sealed private JWK; throws when the master key or kid does not match, or the record is not one
 * sealPrivateJwk writes (another version, an IV or tag of another length).
 */
export function openPrivateJwk(sealed: SealedKey, kid: string, key: Buffer): Record<string, unknown> {
  if (sealed.v !== SEALED_VERSION) throw new Error("sealed key: unknown record version");
  const iv = Buffer.from(sealed.iv, "base64url");
  const tag = Buffer.from(sealed.tag, "base64url");
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Error("sealed key: IV or authentication tag of the wrong length");
  const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(kid));
  decipher.setAuthTag(tag);
  const plain = Buffer.concat([decipher.update(Buffer.from(sealed.ct, "base64url")), decipher.final()]);
  return JSON.parse(plain.toString("utf8")) as Record<string, unknown>;
}
