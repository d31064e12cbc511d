/**
 * verificationKeyProblem refuses, where a client's key is given (registration, the config file), a key that could
 * never verify one of its assertions: among them every key jose's key set passes over when it looks for the key a
 * token names, which would otherwise be stored as registered and never used.
 */
import { describe, expect, it } from "vitest";
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from "jose";
import type { JWK } from "jose";
import { verificationKeyProblem } from "./index.js";

describe("verificationKeyProblem and the keys jose's key set never selects", () => {
  it("refuses a key whose key_ops hold more than verify, whose ext is no boolean, or whose kid is no string (RFC 7517 §4.3, §4.5)", async () => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    const good: JWK = { ...(await exportJWK(pair.publicKey)), kid: "k1" };
    const token = await new SignJWT({ sub: "c1" }).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(pair.privateKey);
    /** Whether a key set holding only `key` verifies the token signed by its private key, as an assertion is verified. */
    const selected = (key: JWK): Promise<boolean> =>
      jwtVerify(token, createLocalJWKSet({ keys: [key] })).then(
        () => true,
        () => false,
      );

    expect(verificationKeyProblem(good as Record<string, unknown>)).toBeUndefined();
    expect(await selected(good)).toBe(true);
    const unused: Array<[Record<string, unknown>, string]> = [
      // A public key takes no WebCrypto usage but verify: jose's import of it fails, for every assertion.
      [{ ...good, key_ops: ["verify", "sign"] }, "a public key's key_ops must be verify alone (RFC 7517 section 4.3)"],
      [{ ...good, key_ops: ["sign", "verify"] }, "a public key's key_ops must be verify alone (RFC 7517 section 4.3)"],
      [{ ...good, key_ops: ["verify", "encrypt"] }, "a public key's key_ops must be verify alone (RFC 7517 section 4.3)"],
      [{ ...good, key_ops: ["verify", "verify"] }, "a public key's key_ops must be verify alone (RFC 7517 section 4.3)"],
      [{ ...good, key_ops: ["verify", 7] }, "a public key's key_ops must be verify alone (RFC 7517 section 4.3)"],
      [{ ...good, ext: "true" }, "a key's ext must be a boolean"],
      [{ ...good, kid: 1 }, "a key's kid must be a string (RFC 7517 section 4.5)"],
    ];
    for (const [key, problem] of unused) {
      // The premise: jose never picks such a key for a token, so it could never verify an assertion.
      expect(await selected(key as JWK), JSON.stringify(key)).toBe(false);
      expect(verificationKeyProblem(key), JSON.stringify(key)).toBe(problem);
    }
    // What jose takes stays accepted.
    for (const key of [
      { ...good, ext: true },
      { ...good, key_ops: ["verify"] },
      { ...good, use: "sig" },
    ]) {
      expect(await selected(key), JSON.stringify(key)).toBe(true);
      expect(verificationKeyProblem(key as Record<string, unknown>)).toBeUndefined();
    }
  });
});
