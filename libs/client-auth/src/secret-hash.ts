/**
 * Client secrets are stored as scrypt hashes. scrypt costs tens of ms by
 * design, which would cap a busy token endpoint; successful verifications
 * are therefore remembered in memory, keyed by a digest of (stored hash,
 * presented secret), so a rotated secret or a wrong guess never hits the
 * cache while a repeat of the right secret costs one SHA-256.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from "node:crypto";

const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;

function scryptAsync(secret: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEYLEN, { N: n, r, p, maxmem: 256 * n * r }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Hashes a secret as `scrypt$N$r$p$salt$hash` (base64url). */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(secret, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString("base64url")}$${hash.toString("base64url")}`;
}

const verified = new Map<string, true>();
const VERIFIED_MAX = 10_000;

/** Checks a presented secret against a stored hash in constant time. */
export async function verifySecret(stored: string, presented: string): Promise<boolean> {
  const memo = createHash("sha256").update(stored).update("\0").update(presented).digest("base64url");
  if (verified.has(memo)) return true;
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, "base64url");
  const actual = await scryptAsync(presented, Buffer.from(salt, "base64url"), Number(n), Number(r), Number(p));
  const ok = actual.length === expected.length && timingSafeEqual(actual, expected);
  if (ok) {
    if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value as string);
    verified.set(memo, true);
  }
  return ok;
}
