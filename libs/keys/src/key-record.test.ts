import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import {
  JWKS_EDGE_CACHE_SECONDS,
  JWKS_MAX_AGE_SECONDS,
  keyStatusesAt,
  parseStoredKey,
  prepublishLeadSeconds,
  publishedKeysAt,
  retiredKeysAt,
  rotationDue,
  signingKeyAt,
  upcomingKeyAt,
} from "./key-record.js";
import type { StoredKey } from "./key-record.js";
import { openPrivateJwk, parseMasterKey, sealPrivateJwk } from "./master-key.js";

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

describe("withdrawn keys", () => {
  /** `k` as Withdraw leaves it at `at`: no private part, who and why. */
  const withdrawn = (k: StoredKey, at: number): StoredKey => {
    const { sealed: _sealed, ...rest } = k;
    return { ...rest, withdrawn_at: at, withdrawn_by: "ops", reason: "leaked" };
  };
  const kids = (keys: readonly StoredKey[]): string[] => keys.map((k) => k.kid);
  const k1 = key("k1", 0);

  it("never sign: a withdrawn signing key with no successor leaves none (Withdraw makes one first)", () => {
    expect(signingKeyAt([withdrawn(k1, 500)], 500)).toBeUndefined();
    // An older key still in service signs again rather than the withdrawn one.
    expect(signingKeyAt([k1, withdrawn(key("k2", 1000), 1500)], 1500)?.kid).toBe("k1");
  });

  it("never sign: a withdrawn signing key with a successor waiting leaves the successor, the next to come", () => {
    const next = key("k2", 2000);
    expect(signingKeyAt([withdrawn(k1, 1500), next], 1500)?.kid).toBe("k2");
    expect(upcomingKeyAt([withdrawn(k1, 1500), next], 1500)?.kid).toBe("k2");
    // What Withdraw does: the waiting key brought forward to now.
    expect(signingKeyAt([withdrawn(k1, 1500), { ...next, activate_at: 1500 }], 1500)?.kid).toBe("k2");
  });

  it("are never published, signing or retired, whatever the tail their tokens would have had", () => {
    const k2 = key("k2", 1000);
    expect(kids(publishedKeysAt([k1, withdrawn(k2, 1200)], 1200, policy))).toEqual(["k1"]);
    expect(kids(publishedKeysAt([withdrawn(k1, 1200), k2], 1200, policy))).toEqual(["k2"]);
    expect(kids(publishedKeysAt([withdrawn(k1, 1200)], 1200, policy))).toEqual([]);
  });

  it("are no one's successor: a key whose successor was withdrawn before it activated keeps signing and stays published", () => {
    const late = withdrawn(key("k2", 1000), 900);
    const at = 1000 + policy.maxTokenLifetime + policy.clockTolerance;
    expect(signingKeyAt([k1, late], at)?.kid).toBe("k1");
    expect(kids(publishedKeysAt([k1, late], at, policy))).toEqual(["k1"]);
    // Only the withdrawn record goes, its own time on record over.
    expect(kids(retiredKeysAt([k1, late], at, policy))).toEqual(["k2"]);
  });

  it("as the only upcoming key, do not stop a due rotation", () => {
    const ahead = withdrawn(key("k2", 1100), 1050);
    expect(upcomingKeyAt([k1, ahead], 1050)).toBeUndefined();
    expect(rotationDue([k1, ahead], 1050, policy)).toBe(true);
    expect(rotationDue([k1, key("k3", 1100), ahead], 1050, policy)).toBe(false);
    // All withdrawn: nothing signs, so a key is due at once.
    expect(rotationDue([withdrawn(k1, 10)], 10, policy)).toBe(true);
  });

  it("stay on record until everything they could have signed has expired, then are deleted like retired keys", () => {
    const keys = [withdrawn(k1, 1500), key("k2", 1500)];
    const gone = 1500 + policy.maxTokenLifetime + policy.clockTolerance;
    expect(kids(retiredKeysAt(keys, gone - 1, policy))).toEqual([]);
    expect(kids(retiredKeysAt(keys, gone, policy))).toEqual(["k1"]);
    expect(keyStatusesAt(keys, gone - 1, policy).map((s) => [s.key.kid, s.state])).toEqual([
      ["k1", "withdrawn"],
      ["k2", "signing"],
    ]);
    expect(keyStatusesAt(keys, gone, policy).map((s) => s.key.kid)).toEqual(["k2"]);
  });

  it("are parsed without a private part, but only with who withdrew them and why", () => {
    const stored = withdrawn(k1, 1500);
    expect(parseStoredKey(JSON.parse(JSON.stringify(stored)))).toEqual(stored);
    expect(parseStoredKey({ ...stored, withdrawn_by: undefined })).toBeUndefined();
    expect(parseStoredKey({ ...stored, reason: 7 })).toBeUndefined();
    expect(parseStoredKey({ ...stored, withdrawn_at: "1500" })).toBeUndefined();
    expect(parseStoredKey({ ...stored, withdrawn_jti: "op-jti" })).toEqual({ ...stored, withdrawn_jti: "op-jti" });
    expect(parseStoredKey({ ...stored, withdrawn_jti: 7 })).toBeUndefined();
  });
});

describe("key states", () => {
  it("names each key upcoming, signing, verifying or withdrawn, and leaves out the retired", () => {
    const keys = [key("k0", -2000), key("k1", 0), key("k2", 1000), key("k3", 2000)];
    const at = 1000 + policy.maxTokenLifetime + policy.clockTolerance;
    expect(keyStatusesAt(keys, 1100, policy).map((s) => [s.key.kid, s.state])).toEqual([
      ["k1", "verifying"],
      ["k2", "signing"],
      ["k3", "upcoming"],
    ]);
    expect(keyStatusesAt(keys, at, policy).map((s) => s.key.kid)).toEqual(["k2", "k3"]);
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

  it("takes hex, base64url and base64 as openssl writes them (padded, wrapped), each the same key as its bytes", () => {
    const bytes = randomBytes(48);
    const sealed = sealPrivateJwk({ d: "secret" }, "kid1", parseMasterKey(bytes.toString("hex")));
    const b64 = bytes.toString("base64");
    for (const text of [bytes.toString("base64url"), b64, `${b64.slice(0, 40)}\n${b64.slice(40)}\n`, ` ${bytes.toString("hex").toUpperCase()}\n`]) {
      expect(openPrivateJwk(sealed, "kid1", parseMasterKey(text))).toEqual({ d: "secret" });
    }
  });

  it("refuses a sealed key whose tag is cut short, or of another record version: a 4-byte GCM tag is forged in 2^32 tries", () => {
    const box = sealPrivateJwk({ d: "secret" }, "kid1", master);
    const tag = Buffer.from(box.tag, "base64url");
    for (const bytes of [4, 12, 15]) {
      expect(() => openPrivateJwk({ ...box, tag: tag.subarray(0, bytes).toString("base64url") }, "kid1", master)).toThrow(/tag of the wrong length/);
    }
    expect(() => openPrivateJwk({ ...box, iv: Buffer.alloc(16).toString("base64url") }, "kid1", master)).toThrow(/wrong length/);
    expect(() => openPrivateJwk({ ...box, v: 2 } as unknown as typeof box, "kid1", master)).toThrow(/unknown record version/);
  });

  it.each([
    ["one letter repeated (read as hex, odd)", "a".repeat(43), /odd number/],
    ["32 bytes of a 3-byte pattern (base64url of one letter repeated)", "g".repeat(43), /not random/],
    ["32 zero bytes (base64)", Buffer.alloc(32).toString("base64"), /not random/],
    ["32 zero bytes (hex)", "0".repeat(64), /not random/],
    ["a short pattern repeated (hex)", "0123456789abcdef".repeat(4), /not random/],
    ["a short pattern repeated (base64)", Buffer.from("abc".repeat(16)).toString("base64"), /not random/],
    ["base64 with stray bits in its last character", `${randomBytes(32).toString("base64url").slice(0, 42)}B`, /must be hex, base64url or base64/],
    ["base64 with the wrong padding", `${randomBytes(32).toString("base64")}=`, /must be hex, base64url or base64/],
    ["both base64 alphabets at once", `+_${randomBytes(32).toString("base64url").slice(2)}`, /must be hex, base64url or base64/],
    ["hex of fewer than 32 bytes, also readable as base64 of more", randomBytes(30).toString("hex"), /at least 32/],
  ])("refuses %s: not exactly the encoding of 32+ random bytes", (_what, text, why) => {
    expect(() => parseMasterKey(text)).toThrow(TypeError);
    expect(() => parseMasterKey(text)).toThrow(why);
  });

  it("takes the keys the local runner, the test harness and `openssl rand` make", () => {
    for (let i = 0; i < 200; i++) {
      const bytes = randomBytes(32);
      for (const text of [bytes.toString("base64url"), bytes.toString("base64"), bytes.toString("hex"), `${bytes.toString("base64")}\n`]) {
        expect(() => parseMasterKey(text)).not.toThrow();
      }
    }
  });

  it.each([
    ["a passphrase", "correct horse battery staple, and a long tail of words to pass 32 bytes"],
    ["hex with an odd number of digits", randomBytes(32).toString("hex") + "a"],
    ["base64 with a character outside it", `${randomBytes(32).toString("base64url")}!`],
  ])("refuses %s, which Node's decoders would read in part", (_what, text) => {
    expect(() => parseMasterKey(text)).toThrow(TypeError);
  });
});
