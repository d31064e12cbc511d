import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import {
  JWKS_EDGE_CACHE_SECONDS,
  JWKS_MAX_AGE_SECONDS,
  openPrivateJwk,
  parseMasterKey,
  prepublishLeadSeconds,
  publishedKeysAt,
  retiredKeysAt,
  rotationDue,
  sealPrivateJwk,
  signingKeyAt,
} from "./index.js";
import type { StoredKey } from "./index.js";

const policy = { rotateAfter: 1000, maxTokenLifetime: 300, clockTolerance: 30 };
const sealed = { v: 1 as const, iv: "", ct: "", tag: "" };
const key = (kid: string, activate_at: number): StoredKey => ({ kid, alg: "ES256", created_at: activate_at, activate_at, public_jwk: { kty: "EC" }, sealed });

describe("key life cycle", () => {
  const k1 = key("k1", 0);
  const k2 = key("k2", 1000);

  it("signs with the most recently activated key, never an upcoming one", () => {
    expect(signingKeyAt([k1, k2], 999)?.kid).toBe("k1");
    expect(signingKeyAt([k1, k2], 1000)?.kid).toBe("k2");
  });

  it("publishes an upcoming key before it signs", () => {
    expect(publishedKeysAt([k1, k2], 900, policy).map((k) => k.kid)).toEqual(["k1", "k2"]);
  });

  it("keeps the old key published until tokens it signed have expired", () => {
    expect(publishedKeysAt([k1, k2], 1000 + 329, policy).map((k) => k.kid)).toEqual(["k1", "k2"]);
    expect(publishedKeysAt([k1, k2], 1000 + 330, policy).map((k) => k.kid)).toEqual(["k2"]);
    expect(retiredKeysAt([k1, k2], 1000 + 330, policy).map((k) => k.kid)).toEqual(["k1"]);
  });

  it("rotates when the signing key is old and no successor waits", () => {
    expect(rotationDue([k1], 999, policy)).toBe(false);
    expect(rotationDue([k1], 1000, policy)).toBe(true);
    expect(rotationDue([k1, key("k2", 1100)], 1050, policy)).toBe(false);
    expect(rotationDue([], 0, policy)).toBe(true);
  });
});

describe("pre-publication", () => {
  it("keeps a new key unused until a verifier's cached JWKS (gateway cache + max-age) has expired, whatever the clock skew", () => {
    for (const tolerance of [0, 30, 300]) {
      const lead = prepublishLeadSeconds(tolerance);
      // Worst case: the gateway cached the JWKS at t=0, just before the key appeared; a verifier fetched that copy
      // at the last moment and keeps it for max-age; an issuer replica's clock runs `tolerance` ahead.
      const verifierRefetchesAt = JWKS_EDGE_CACHE_SECONDS + JWKS_MAX_AGE_SECONDS;
      const next = key("next", lead);
      const firstUseRealTime = next.activate_at - tolerance;
      expect(firstUseRealTime).toBeGreaterThanOrEqual(verifierRefetchesAt);
      expect(signingKeyAt([key("old", -1000), next], verifierRefetchesAt + tolerance - 1)?.kid).toBe("old");
    }
  });
});

describe("sealing", () => {
  const master = parseMasterKey(randomBytes(32).toString("base64url"));

  it("round-trips a private JWK under the master key", () => {
    const box = sealPrivateJwk({ d: "secret" }, "kid1", master);
    expect(JSON.stringify(box)).not.toContain("secret");
    expect(openPrivateJwk(box, "kid1", master)).toEqual({ d: "secret" });
  });

  it("refuses another kid or another master key", () => {
    const box = sealPrivateJwk({ d: "secret" }, "kid1", master);
    expect(() => openPrivateJwk(box, "kid2", master)).toThrow();
    expect(() => openPrivateJwk(box, "kid1", parseMasterKey(randomBytes(32).toString("hex")))).toThrow();
  });

  it("refuses a short master key", () => {
    expect(() => parseMasterKey("c2hvcnQ")).toThrow(TypeError);
  });
});
