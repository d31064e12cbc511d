/**
 * Client secrets are stored as scrypt hashes. scrypt costs tens of ms by
 * design, which would cap a busy token endpoint; successful verifications
 * are therefore remembered in memory, keyed by a digest of (stored hash,
 * presented secret), so a rotated secret or a wrong guess never hits the
 * cache while a repeat of the right secret costs one SHA-256.
 *
 * Anyone can make us run scrypt by presenting a wrong secret, so scrypt
 * runs behind a gate: a few at once and a bounded queue, past which a check
 * is refused with temporarily_unavailable. A flood of bad secrets then costs
 * at most those cores and delays only first-time checks; clients whose
 * secret was verified before go through the cache untouched.
 */
import { availableParallelism } from "node:os";
import { createHash, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { OAuthError, unavailable } from "@sts/errors";
import { resultCounter } from "@sts/telemetry";

const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;

function scryptAsync(secret: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEYLEN, { N: n, r, p, maxmem: 256 * n * r }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Bounds how many scrypt computations run at once and how many may wait. */
export class ScryptGate {
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(
    private readonly maxRunning: number,
    private readonly maxWaiting: number,
  ) {}

  /** Computations running now (for tests and metrics). */
  get running(): number {
    return this.#running;
  }

  /** Runs fn when a slot is free; refuses at once with temporarily_unavailable when the queue is full. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#running < this.maxRunning) {
      this.#running++;
    } else {
      if (this.#waiting.length >= this.maxWaiting) throw unavailable("too many client secrets are being checked at once; retry shortly");
      // The slot is handed over by the finishing computation, so #running stays counted.
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

/** The process's gate: half the cores (scrypt holds a libuv thread and a core for ~25 ms), 64 waiting. */
const defaultGate = new ScryptGate(Math.max(1, Math.floor(availableParallelism() / 2)), 64);

/** Hashes a secret as `scrypt$N$r$p$salt$hash` (base64url). */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await defaultGate.run(() => scryptAsync(secret, salt, N, R, P));
  return `scrypt$${N}$${R}$${P}$${salt.toString("base64url")}$${hash.toString("base64url")}`;
}

const verified = new Map<string, true>();
const VERIFIED_MAX = 10_000;

/** How a secret check ended: from the cache, by scrypt (match or mismatch), or refused at the gate. */
export type SecretCheck = "cached" | "match" | "mismatch" | "refused";

/** Counts checks by result. A rising `mismatch` is someone guessing; `refused` is the gate shedding load. */
const count = resultCounter(
  "@sts/client-auth",
  "sts.client_auth.secret_checks",
  "Client secret checks by result: cached (verified before), match, mismatch (wrong secret or unknown client) or refused (scrypt gate full)",
  ["cached", "match", "mismatch", "refused"] as const,
);

/** Checks a presented secret against a stored hash in constant time; a repeat of a verified secret skips scrypt and the gate. */
export async function verifySecret(stored: string, presented: string, gate: ScryptGate = defaultGate): Promise<boolean> {
  const memo = createHash("sha256").update(stored).update("\0").update(presented).digest("base64url");
  if (verified.has(memo)) {
    count("cached");
    return true;
  }
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") {
    count("mismatch");
    return false;
  }
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, "base64url");
  const actual = await gate
    .run(() => scryptAsync(presented, Buffer.from(salt, "base64url"), Number(n), Number(r), Number(p)))
    .catch((err: unknown) => {
      if (err instanceof OAuthError) {
        if (err.code === "temporarily_unavailable") count("refused");
        throw err;
      }
      // Parameters scrypt refuses (an N that is no power of two, a cost past its memory bound), stored by an earlier
      // release or written around the config's check: no secret can match them, which is no fault of ours to retry.
      return undefined;
    });
  const ok = actual !== undefined && actual.length === expected.length && timingSafeEqual(actual, expected);
  count(ok ? "match" : "mismatch");
  if (ok) {
    if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value as string);
    verified.set(memo, true);
  }
  return ok;
}
