/**
 * The JWKS holds public members only, whatever a record in the keys bucket says: a record whose public_jwk carries a
 * private part or a secret (an earlier release's bug, a hand edit, a writer that should not have written) never
 * publishes it, neither from the issuer's ring nor from a verifier's view of the bucket.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { JWK } from "jose";
import { PublicKeyRing, SigningKeyRing } from "./key-ring.js";
import { memoryKeyStore } from "./memory-key-store.js";
import { parseMasterKey } from "./master-key.js";
import type { StoredKey } from "./key-record.js";

const policy = { rotateAfter: 3600, maxTokenLifetime: 300, clockTolerance: 30 };
const T = 1_000_000;
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/** A record of `kid` as a writer put it, public_jwk and all. */
function record(kid: string, publicJwk: JWK, alg: string, at: number): StoredKey {
  return { kid, alg, created_at: at, activate_at: at, public_jwk: publicJwk };
}

describe("the JWKS", () => {
  it("publishes no private member of a record and leaves out a secret key", async () => {
    const store = memoryKeyStore();
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" }) as JWK;
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" }) as JWK;
    await store.put("key.ec-whole", record("ec-whole", ec, "ES256", T - 30));
    await store.put("key.rsa-whole", record("rsa-whole", { ...rsa, oth: [] }, "RS256", T - 20));
    await store.put("key.secret", record("secret", { kty: "oct", k: randomBytes(32).toString("base64url") }, "ES256", T - 10));
    const ring = new SigningKeyRing({ store, algorithm: "ES256", policy, masterKey: parseMasterKey(randomBytes(32).toString("base64url")), now: () => T });
    const verifier = new PublicKeyRing(
      () => store.list(),
      policy,
      () => T,
    );
    for (const jwks of [ring.jwks(), verifier.jwks()]) {
      const published = jwks.keys as Array<Record<string, unknown>>;
      expect(published.flatMap((k) => PRIVATE_MEMBERS.filter((m) => m in k))).toEqual([]);
      expect(published.map((k) => k.kid)).toEqual(["ec-whole", "rsa-whole"]);
      expect(published[0]).toEqual({ kty: "EC", crv: "P-256", x: ec.x, y: ec.y, kid: "ec-whole", alg: "ES256", use: "sig" });
    }
  });
});
