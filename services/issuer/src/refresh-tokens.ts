/**
 * Refresh tokens (RFC 6749 §6) with rotation and reuse detection (OAuth 2.0
 * Security BCP, RFC 9700 §4.14.2): every use returns a new refresh token of
 * the same family and spends the old one; presenting a spent one revokes the
 * whole family, so a stolen token and its legitimate successor both die.
 * Tokens are random and opaque; the store keeps their SHA-256, never the
 * token. Spending uses a KV compare-and-set, so two replicas cannot both
 * accept the same token.
 */
import { createHash, randomBytes } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { invalidGrant, unavailable } from "@sts/errors";

/** Prefix that tells refresh tokens apart (and helps secret scanners). */
export const REFRESH_PREFIX = "str_";

/** What a refresh token stands for. */
export interface RefreshGrant {
  family: string;
  client_id: string;
  sub: string;
  scope: string[];
  aud: string[];
  iat: number;
  exp: number;
  /** jti of the access token issued with it (lineage of refreshed tokens). */
  access_jti: string;
  state: "active" | "spent";
}

interface Family {
  revoked: boolean;
  latest: string;
}

const digest = (token: string): string => createHash("sha256").update(token).digest("base64url");
const tokenKey = (hash: string): string => `rt.${hash}`;
const familyKey = (family: string): string => `fam.${family}`;

/** The refresh token store. */
export class RefreshTokens {
  constructor(
    private readonly kv: KV,
    private readonly now: () => number,
  ) {}

  /** Issues a refresh token, starting a family unless one is given. */
  async issue(
    grant: Omit<RefreshGrant, "family" | "iat" | "exp" | "state">,
    ttl: number,
    family?: string,
  ): Promise<{ token: string; iat: number; exp: number; family: string }> {
    const token = REFRESH_PREFIX + randomBytes(32).toString("base64url");
    const iat = this.now();
    const fam = family ?? randomBytes(12).toString("base64url");
    const record: RefreshGrant = { ...grant, family: fam, iat, exp: iat + ttl, state: "active" };
    try {
      await this.kv.create(tokenKey(digest(token)), JSON.stringify(record));
      await this.kv.put(familyKey(fam), JSON.stringify({ revoked: false, latest: digest(token) } satisfies Family));
    } catch (err) {
      throw unavailable("refresh token store unavailable", err);
    }
    return { token, iat, exp: record.exp, family: fam };
  }

  /** Spends a refresh token of `clientId`; a spent one revokes its family. Throws invalid_grant. */
  async spend(token: string, clientId: string): Promise<RefreshGrant> {
    if (!token.startsWith(REFRESH_PREFIX) || token.length > 128) throw invalidGrant("refresh token is invalid");
    const key = tokenKey(digest(token));
    const entry = await this.kv.get(key).catch((err: unknown) => {
      throw unavailable("refresh token store unavailable", err);
    });
    if (!entry || entry.operation !== "PUT") throw invalidGrant("refresh token is invalid");
    const grant = entry.json<RefreshGrant>();
    // RFC 6749 §6: the token must have been issued to the authenticated client.
    if (grant.client_id !== clientId) throw invalidGrant("refresh token was issued to another client");
    const familyEntry = await this.kv.get(familyKey(grant.family));
    const family = familyEntry?.operation === "PUT" ? familyEntry.json<Family>() : undefined;
    if (!family || family.revoked) throw invalidGrant("refresh token family is revoked");
    if (grant.exp <= this.now()) throw invalidGrant("refresh token expired");
    if (grant.state === "spent") {
      await this.#revokeFamily(grant.family);
      throw invalidGrant("refresh token reused: its family is revoked");
    }
    try {
      await this.kv.update(key, JSON.stringify({ ...grant, state: "spent" } satisfies RefreshGrant), entry.revision);
    } catch (err) {
      if (err instanceof Error && /wrong last sequence/i.test(err.message)) {
        // Another replica spent it a moment ago: this is a second use.
        await this.#revokeFamily(grant.family);
        throw invalidGrant("refresh token reused: its family is revoked");
      }
      throw unavailable("refresh token store unavailable", err);
    }
    return grant;
  }

  async #revokeFamily(family: string): Promise<void> {
    try {
      await this.kv.put(familyKey(family), JSON.stringify({ revoked: true, latest: "" } satisfies Family));
    } catch (err) {
      throw unavailable("refresh token store unavailable", err);
    }
  }
}
