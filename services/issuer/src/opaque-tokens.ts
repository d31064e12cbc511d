/**
 * Opaque access tokens: random strings whose claims live in NATS KV, found by
 * the SHA-256 of the token (the token itself is never stored), resolved only
 * by introspection.
 */
import { createHash, randomBytes } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { unavailable } from "@sts/errors";
import type { AccessTokenClaims } from "@sts/jwt";

/** Prefix that tells opaque tokens from JWTs at a glance (and to secret scanners). */
export const OPAQUE_PREFIX = "sto_";

const keyOf = (token: string): string => createHash("sha256").update(token).digest("base64url");

/** A store that cannot be reached is the caller's to retry (503), never a server_error: nothing is wrong with the token. */
const storeDown = (err: unknown): never => {
  throw unavailable("token store unavailable", err);
};

/** Store of opaque token claims. */
export class OpaqueTokens {
  constructor(private readonly kv: KV) {}

  /** Creates a token for the claims and stores them; throws temporarily_unavailable when the store cannot take them. */
  async create(claims: AccessTokenClaims): Promise<string> {
    const token = OPAQUE_PREFIX + randomBytes(32).toString("base64url");
    await this.kv.create(keyOf(token), JSON.stringify(claims)).catch(storeDown);
    return token;
  }

  /** The claims of a token, or undefined when unknown; throws temporarily_unavailable when the store cannot be read. */
  async resolve(token: string): Promise<AccessTokenClaims | undefined> {
    if (!token.startsWith(OPAQUE_PREFIX) || token.length > 128) return undefined;
    const entry = await this.kv.get(keyOf(token)).catch(storeDown);
    if (!entry || entry.operation !== "PUT") return undefined;
    return entry.json<AccessTokenClaims>();
  }
}
