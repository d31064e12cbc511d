/**
 * publicJwkProblem guards every key set this stack hands to others to verify with (a registered client's `jwks`, the
 * config file's): public keys only (OpenID Connect Dynamic Client Registration §2). The AKP key type (ML-DSA, RFC 9964)
 * carries its private key as `priv` (and, in its drafts and some tools, `seed`), which jose reads as a private key: such
 * a key must be refused like an EC key with `d`, or the private key goes into the clients bucket every exchanger reads.
 */
import { describe, expect, it } from "vitest";
import { publicJwkProblem } from "./index.js";

/** An ML-DSA-44 key pair as a JWK: the values' sizes do not matter to the check. */
const akp = { kty: "AKP", alg: "ML-DSA-44", pub: "cHVibGlj", kid: "pq-1" };

describe("publicJwkProblem and post-quantum (AKP) keys", () => {
  it("takes an AKP public key", () => {
    expect(publicJwkProblem(akp)).toBeUndefined();
  });

  it("refuses an AKP private key by its priv or seed member, naming the member, never its value", () => {
    expect(publicJwkProblem({ ...akp, priv: "c2VjcmV0LXByaXY" })).toBe("holds private key values (priv): public keys only");
    expect(publicJwkProblem({ ...akp, seed: "c2VjcmV0LXNlZWQ" })).toBe("holds private key values (seed): public keys only");
    expect(publicJwkProblem({ ...akp, priv: "c2VjcmV0LXByaXY", seed: "c2VjcmV0LXNlZWQ" })).toBe("holds private key values (priv, seed): public keys only");
    expect(publicJwkProblem({ ...akp, priv: "c2VjcmV0LXByaXY" })).not.toContain("c2VjcmV0");
  });
});
