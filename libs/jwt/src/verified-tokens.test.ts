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
