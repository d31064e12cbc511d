import { describe, expect, it } from "vitest";
import type { AccessTokenClaims } from "./claims.js";
import { VerifiedTokens } from "./verified-tokens.js";

const claims = (exp: number): AccessTokenClaims => ({ iss: "i", sub: "s", aud: "a", exp, iat: 0, jti: "j", client_id: "c" });

describe("VerifiedTokens", () => {
  it("returns claims only for the exact token string", () => {
    const cache = new VerifiedTokens();
    cache.set("a.b.c", claims(1000), 0, "k1");
    expect(cache.get("a.b.c", 1)?.claims.jti).toBe("j");
    expect(cache.get("a.b.c", 1)?.kid).toBe("k1");
    expect(cache.get("a.b.C", 1)).toBeUndefined();
  });

  it("forgets a token at its exp or after the cache life, whichever is first", () => {
    const cache = new VerifiedTokens(10, 60);
    cache.set("t1", claims(30), 0);
    cache.set("t2", claims(1000), 0);
    expect(cache.get("t1", 30)).toBeUndefined();
    expect(cache.get("t2", 59)).toBeDefined();
    expect(cache.get("t2", 60)).toBeUndefined();
  });

  it("stays bounded", () => {
    const cache = new VerifiedTokens(2, 60);
    cache.set("t1", claims(100), 0);
    cache.set("t2", claims(100), 0);
    cache.set("t3", claims(100), 0);
    expect(cache.get("t1", 1)).toBeUndefined();
    expect(cache.get("t3", 1)).toBeDefined();
  });
});

describe("VerifiedTokens memory bound", () => {
  it("drops the oldest tokens once their bytes pass the bound, whatever their count", () => {
    // Room for two 8 KiB tokens (about 16.6 KB each with their claims), not three.
    const cache = new VerifiedTokens(10_000, 60, 40_000);
    const big = (c: string): string => c.repeat(8192);
    cache.set(big("a"), claims(100), 0);
    cache.set(big("b"), claims(100), 0);
    cache.set(big("c"), claims(100), 0);
    expect([big("a"), big("b"), big("c")].map((t) => cache.get(t, 1) !== undefined)).toEqual([false, true, true]);
    expect(cache.bytes).toBeLessThanOrEqual(40_000);
  });

  it("charges a token once when it is stored again, and gives its bytes back when it expires", () => {
    const cache = new VerifiedTokens(10, 60, 1_000_000);
    cache.set("t1", claims(30), 0);
    const one = cache.bytes;
    cache.set("t1", claims(30), 0);
    expect(cache.bytes).toBe(one);
    expect(cache.get("t1", 31)).toBeUndefined();
    expect(cache.bytes).toBe(0);
  });

  it("does not store a token larger than the whole bound, and keeps what it holds", () => {
    const cache = new VerifiedTokens(10, 60, 1_000);
    cache.set("small", claims(100), 0);
    cache.set("x".repeat(2_000), claims(100), 0);
    expect(cache.get("small", 1)).toBeDefined();
    expect(cache.get("x".repeat(2_000), 1)).toBeUndefined();
  });
});
