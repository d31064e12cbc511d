/**
 * What a key set given to others to verify with may hold (OpenID Connect Dynamic Client Registration §2): public keys
 * only. The one predicate behind the registration API's check and the config file's.
 */
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { publicJwkProblem } from "./index.js";

const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ed = generateKeyPairSync("ed25519");

describe("publicJwkProblem", () => {
  it("takes public EC, RSA and OKP keys", () => {
    for (const pair of [ec, rsa, ed]) expect(publicJwkProblem(pair.publicKey.export({ format: "jwk" }))).toBeUndefined();
  });

  it("names the private members of a private key, never their values", () => {
    const problem = publicJwkProblem(ec.privateKey.export({ format: "jwk" }));
    expect(problem).toBe("holds private key values (d): public keys only");
    expect(publicJwkProblem(rsa.privateKey.export({ format: "jwk" }))).toBe("holds private key values (d, p, q, dp, dq, qi): public keys only");
    expect(publicJwkProblem(ed.privateKey.export({ format: "jwk" }))).toBe("holds private key values (d): public keys only");
    expect(publicJwkProblem({ ...rsa.publicKey.export({ format: "jwk" }), oth: [{ r: "AQAB", d: "AQAB", t: "AQAB" }] })).toBe(
      "holds private key values (oth): public keys only",
    );
  });

  it("refuses a symmetric key by its type alone, and a key value under any type by its member alone", () => {
    expect(publicJwkProblem({ kty: "oct", kid: "no-value" })).toBe("a symmetric key (kty oct): public keys only");
    expect(publicJwkProblem({ kty: "oct", k: "c2VjcmV0" })).toBe("a symmetric key (kty oct): public keys only");
    expect(publicJwkProblem({ ...ec.publicKey.export({ format: "jwk" }), k: "c2VjcmV0" })).toBe("holds private key values (k): public keys only");
  });
});
