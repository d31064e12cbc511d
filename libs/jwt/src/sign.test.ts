import { exportJWK, generateKeyPair, jwtVerify } from "jose";
import type { CryptoKey, JWK } from "jose";
import { describe, expect, it } from "vitest";
import { importSigningKey, signJwt } from "./sign.js";

async function pair(alg: string, options: { crv?: string; modulusLength?: number } = {}): Promise<{ priv: JWK; pub: CryptoKey }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...options });
  return { priv: await exportJWK(privateKey), pub: publicKey };
}

describe("signJwt", () => {
  it.each([
    ["ES256", {}],
    ["EdDSA", { crv: "Ed25519" }],
    ["RS256", { modulusLength: 2048 }],
    ["PS256", { modulusLength: 2048 }],
  ] as const)("makes %s tokens that jose verifies, with alg, kid and typ in the protected header", async (alg, options) => {
    const { priv, pub } = await pair(alg, options);
    const claims = { sub: "svc-a", aud: ["svc-b", "svc-c"], scope: "b c", act: { sub: "svc-a" }, iat: 1, exp: 4_000_000_000 };
    const token = signJwt(claims, importSigningKey(priv, "k1", alg), "at+jwt");
    const { payload, protectedHeader } = await jwtVerify(token, pub, { algorithms: [alg], typ: "at+jwt" });
    expect(protectedHeader).toEqual({ alg, kid: "k1", typ: "at+jwt" });
    expect(payload).toEqual(claims);
  });

  it("makes a signature that no longer verifies once the payload is changed", async () => {
    const { priv, pub } = await pair("ES256");
    const [h, , s] = signJwt({ sub: "a", scope: "read" }, importSigningKey(priv, "k1", "ES256"), "at+jwt").split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: "a", scope: "read write" })).toString("base64url")}.${s}`;
    await expect(jwtVerify(forged, pub, { algorithms: ["ES256"] })).rejects.toThrow(/signature/);
  });

  it("refuses a key of the wrong type or curve for the alg", async () => {
    const p384 = await pair("ES384");
    const rsa = await pair("RS256", { modulusLength: 2048 });
    const ed = await pair("EdDSA", { crv: "Ed25519" });
    expect(() => importSigningKey(p384.priv, "k", "ES256")).toThrow(/cannot sign ES256/);
    expect(() => importSigningKey(rsa.priv, "k", "ES256")).toThrow(/cannot sign ES256/);
    expect(() => importSigningKey(ed.priv, "k", "RS256")).toThrow(/cannot sign RS256/);
    expect(() => importSigningKey(rsa.priv, "k", "HS256")).toThrow(/unsupported/);
  });
});
