/**
 * What a key set given to others to verify with may hold (OpenID Connect Dynamic Client Registration §2): public keys
 * only. The one predicate behind the registration API's check and the config file's. And how often a key set whose
 * server fails is asked again.
 */
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { FetchImplementation, FlattenedJWSInput } from "jose";
import { KEY_SET_RETRY_MS, KeySourceUnavailable, holdOffAfterFailure, publicJwkProblem, remoteKeySet } from "./index.js";

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

describe("a key set whose server fails", () => {
  const closers: Array<() => void> = [];
  afterEach(() => {
    for (const close of closers.splice(0)) close();
  });

  it("is asked once, not once per token, while its server answers 503 (a flood of made-up kids included)", async () => {
    let asked = 0;
    const server = createServer((_req, res) => {
      asked++;
      res.writeHead(503).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closers.push(() => server.close());
    const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`);
    const keys = remoteKeySet(url, { cooldownDuration: 0, timeoutDuration: 2_000 }, "a test issuer");
    const token = { payload: "", signature: "" } as FlattenedJWSInput;
    for (let i = 0; i < 10; i++) await expect(keys({ alg: "ES256", kid: `made-up-${i}` }, token)).rejects.toBeInstanceOf(KeySourceUnavailable);
    expect(asked).toBe(1);
  });

  it("is asked again once the hold-off has passed, a failure being no answer or one that is not 2xx", async () => {
    let clock = 0;
    const answers: Array<number | Error> = [new Error("ECONNREFUSED"), 500, 200, 200];
    let asked = 0;
    const fake: FetchImplementation = () => {
      const next = answers[asked++];
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(new Response(JSON.stringify({ keys: [] }), { status: next }));
    };
    const held = holdOffAfterFailure(fake, KEY_SET_RETRY_MS, () => clock);
    const init = { method: "GET" as const, headers: new Headers(), redirect: "manual" as const, signal: new AbortController().signal };
    await expect(held("https://keys.example/jwks", init)).rejects.toThrow("ECONNREFUSED");
    clock += KEY_SET_RETRY_MS - 1;
    await expect(held("https://keys.example/jwks", init)).rejects.toThrow(/not asked again/);
    expect(asked).toBe(1);
    clock += 1;
    expect((await held("https://keys.example/jwks", init)).status).toBe(500);
    await expect(held("https://keys.example/jwks", init)).rejects.toThrow(/not asked again/);
    clock += KEY_SET_RETRY_MS;
    expect((await held("https://keys.example/jwks", init)).status).toBe(200);
    // A success holds nothing off.
    expect((await held("https://keys.example/jwks", init)).status).toBe(200);
    expect(asked).toBe(4);
  });
});
