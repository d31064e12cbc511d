/**
 * Outbound token exchange for a workload: the token it received, swapped for
 * one restricted to the callee's audience and the route's scopes. Results are
 * cached until shortly before they expire, keyed by a SHA-256 of the exact
 * inbound token with the audience and scopes (so the cache holds no inbound
 * token, and an entry's key is 43 characters whatever the token's size, up to
 * tokens.max_token_bytes); concurrent calls with the same key
 * share one exchange (single flight). Given revocation state, a cached token
 * is checked on every hit: revoking it, the token it was made from, or their
 * subject, must not leave it in use until it expires; and on a miss the
 * inbound token itself is checked first, so a revoked or malformed one is
 * refused (invalid_token) without a call to the exchanger. Expired entries
 * are dropped as new ones come in, oldest first.
 */
import { createHash } from "node:crypto";
import { Metadata } from "@grpc/grpc-js";
import type { Client } from "@grpc/grpc-js";
import { asResourceRefusal } from "./resource-refusal.js";
import { OAuthError } from "@sts/errors";
import { isTokenRevoked, revocableClaimsOf } from "@sts/jwt";
import type { RevocableClaims, RevocationState } from "@sts/jwt";
import { callUnary } from "@sts/grpc";
import type { ExchangeRequest, ExchangeResponse__Output } from "@sts/proto";
import { cacheLookups } from "@sts/telemetry";

const ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token";

/** Options of the cache. */
export interface ExchangeCacheOptions {
  /** ExchangeService client. */
  exchanger: Client;
  /** `Basic …` credentials of the workload's client. */
  authorization: string;
  /** Seconds before expiry at which a cached token is no longer handed out. */
  refreshMarginSeconds?: number;
  maxEntries?: number;
  deadlineMs?: number;
  /** Milliseconds since epoch (tests). */
  nowMs?: () => number;
  /**
   * Revocation state, asked on every hit (it may throw, e.g. temporarily_unavailable when it is too old to trust);
   * without it a cached token is handed out until shortly before it expires.
   */
  revocations?: RevocationState;
}

/** Options of one {@link ExchangeCache.tokenFor} call. */
export interface TokenForOptions {
  /** Revocation state for this call, in place of the cache's own. */
  revocations?: RevocationState;
}

/** A token for one destination. */
export interface ExchangedToken {
  accessToken: string;
  expiresAt: number;
  scope: string;
  /** The token's jti, as the exchanger tells it (absent from an exchanger of an earlier release). */
  jti?: string;
}

/** A cached token and what revokes it: its own claims and its subject token's (jtis, lineage, subject, issue time). */
interface Entry {
  token: ExchangedToken;
  revocable: RevocableClaims[];
}

/** Whether a cached token, or the one it was made from, is revoked (a loop: this runs on every hit). */
function isRevokedEntry(entry: Entry, revocations: RevocationState): boolean {
  for (const claims of entry.revocable) if (isTokenRevoked(claims, revocations)) return true;
  return false;
}

/**
 * What revokes an exchanged token by itself: its claims when it is a JWT; when it is opaque, its jti (from the
 * exchanger's answer) in its subject token's place, whose lineage and subject it inherits and which is checked too.
 */
function ownRevocable(token: ExchangedToken, subject: RevocableClaims | undefined): RevocableClaims | undefined {
  const claims = revocableClaimsOf(token.accessToken);
  if (claims || !token.jti || !subject) return claims;
  return { iss: subject.iss, sub: subject.sub, iat: subject.iat, jti: token.jti };
}

/** Caching, single-flight exchanger. */
export class ExchangeCache {
  readonly #o: Required<Omit<ExchangeCacheOptions, "revocations">> & Pick<ExchangeCacheOptions, "revocations">;
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<ExchangedToken>>();
  /** Exchanges actually sent (for tests). */
  exchanges = 0;
  readonly #lookups = cacheLookups("@sts/mesh", "sts.mesh.exchange_cache.lookups", "Outbound tokens");

  constructor(options: ExchangeCacheOptions) {
    this.#o = { refreshMarginSeconds: 10, maxEntries: 10_000, deadlineMs: 5000, nowMs: Date.now, ...options };
  }

  /** A token for `audience` with `scopes`, made from `subjectToken`; a revoked cached one is dropped and exchanged anew. */
  async tokenFor(subjectToken: string, audience: string, scopes: readonly string[], options: TokenForOptions = {}): Promise<ExchangedToken> {
    const key = createHash("sha256")
      .update(`${audience}\n${scopes.join(" ")}\n${subjectToken}`)
      .digest("base64url");
    const hit = this.#entries.get(key);
    const revocations = options.revocations ?? this.#o.revocations;
    // A hit's entry holds the inbound token's claims, decoded once: a hit decodes nothing.
    if (hit && hit.token.expiresAt - this.#o.refreshMarginSeconds * 1000 > this.#o.nowMs()) {
      if (!revocations || !isRevokedEntry(hit, revocations)) {
        this.#lookups("hit");
        return hit.token;
      }
      this.#entries.delete(key);
    }
    const subjectClaims = revocableClaimsOf(subjectToken);
    if (revocations) {
      if (!subjectClaims) throw new OAuthError("invalid_token", "malformed bearer token");
      if (isTokenRevoked(subjectClaims, revocations)) throw new OAuthError("invalid_token", "the inbound token is revoked");
    }
    let pending = this.#inflight.get(key);
    this.#lookups(pending ? "joined" : "miss");
    if (!pending) {
      pending = this.#exchange(subjectToken, audience, scopes)
        .then((token) => {
          this.#dropExpired();
          // Deleted first so that the entry moves to the end: the map stays in insertion order, about expiry order.
          this.#entries.delete(key);
          if (this.#entries.size >= this.#o.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
          const revocable = [ownRevocable(token, subjectClaims), subjectClaims].filter((c) => c !== undefined);
          this.#entries.set(key, { token, revocable });
          return token;
        })
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  /** Entries held, expired ones not yet dropped included. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Drops the expired tokens at the front of the map (the oldest entries): a busy workload's cache would otherwise
   * hold every token it ever exchanged until the cap pushed them out.
   */
  #dropExpired(): void {
    const now = this.#o.nowMs();
    for (const [key, entry] of this.#entries) {
      if (entry.token.expiresAt > now) break;
      this.#entries.delete(key);
    }
  }

  async #exchange(subjectToken: string, audience: string, scopes: readonly string[]): Promise<ExchangedToken> {
    this.exchanges++;
    const request: ExchangeRequest = {
      client: { authorization: this.#o.authorization },
      subject_token: subjectToken,
      subject_token_type: ACCESS_TOKEN,
      audience: [audience],
      scope: scopes.join(" "),
    };
    // Every caller here sends the token on to a resource: the exchanger's verdicts are given in a resource server's terms.
    const r = await callUnary<ExchangeRequest, ExchangeResponse__Output>(this.#o.exchanger, "Exchange", request, {
      deadlineMs: this.#o.deadlineMs,
      metadata: new Metadata(),
    }).catch((err: unknown) => {
      throw asResourceRefusal(err, scopes);
    });
    return {
      accessToken: r.access_token,
      expiresAt: this.#o.nowMs() + Number(r.expires_in) * 1000,
      scope: r.scope,
      ...(r.jti && { jti: r.jti }),
    };
  }
}
