import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { CENSOR, redactDeep, redactLogArguments, redactText } from "./redact.js";

const JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
const OPAQUE = "sto_q3Vb0mX1c9yZr8Wk2Lp4Nt6Hs5Ju7Ae0Df1Gi2Bo3";
const REFRESH = "str_N3vEr-lOgGeD_9aZ8yX7wV6uT5sR4qP3oN2mL1kJ0i";
const SEED = "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU";
const PEM = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----";

describe("redactText: credentials inside text no field name marks", () => {
  it.each([
    ["a form body (RFC 6749 §2.3.1, RFC 8693 §2.1)", `grant_type=x&client_secret=s3cr3t-form&subject_token=${OPAQUE}&scope=a`, ["s3cr3t-form", OPAQUE]],
    ["a refresh request body", `grant_type=refresh_token&refresh_token=${REFRESH}`, [REFRESH]],
    ["a query string", "GET /cb?code=1&access_token=abc123secret HTTP/1.1", ["abc123secret"]],
    ["a quoted form value", 'password="pa ss"', ["pa ss"]],
    ["a Basic Authorization value (RFC 7617)", "authorization: Basic YWxpY2U6czNjcjN0", ["YWxpY2U6czNjcjN0"]],
    ["a Bearer opaque token (RFC 6750 §2.1)", `Headers.set: "Bearer ${OPAQUE}" is an invalid header value`, [OPAQUE]],
    ["a Bearer token of another issuer", "Bearer 2YotnFZFEjr1zCsicMWpAA", ["2YotnFZFEjr1zCsicMWpAA"]],
    ["a PEM private key", `could not read ${PEM} from the file`, ["MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg"]],
    ["a PEM block cut short", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4L", ["MHcCAQEEIBkg4L"]],
    ["a NATS creds file", `-----BEGIN NATS USER JWT-----\n${JWT}\n------END NATS USER JWT------\n-----BEGIN USER NKEY SEED-----\n${SEED}`, [JWT, SEED]],
    ["a bare nkey seed", `nkey ${SEED} refused`, [SEED]],
    ["the stack's opaque tokens", `unknown ${OPAQUE} and ${REFRESH}`, [OPAQUE, REFRESH]],
    ["a URL's userinfo", "connect to nats://svc:pa55word@nats:4222 failed", ["pa55word"]],
    ["JSON quoted in a V8 parse error", 'Unexpected token \'}\', "{"client_secret": "json-secret", }" is not valid JSON', ["json-secret"]],
    ["a JWT", `token ${JWT} expired`, [JWT]],
  ])("cuts out %s", (_name, text, secrets) => {
    const out = redactText(text);
    for (const secret of secrets) expect(out).not.toContain(secret);
    expect(out).toContain(CENSOR);
  });

  it.each([
    'Bearer error="invalid_token", error_description="token expired"',
    "malformed Basic credentials",
    "a bearer token is required",
    "token_type_hint=access_token&token_type=Bearer",
    "subject_token_type=urn:ietf:params:oauth:token-type:access_token",
    "refresh token: invalid",
    "scope=openid read:/data/cern",
    "https://issuer.example/oauth2/token",
    "spiffe://mesh/ns/a/sa/b",
    "jti=2c5d0f1e-7a3b-4e8f-9d6a-1b2c3d4e5f60",
  ])("leaves %j as it is", (text) => {
    expect(redactText(text)).toBe(text);
  });

  it("is idempotent", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.constantFrom(JWT, OPAQUE, SEED, PEM, "client_secret=x1", "Basic YWxpY2U6czNjcjN0"), (pad, secret) => {
        const once = redactText(`${pad} ${secret} ${pad}`);
        return redactText(once) === once && !once.includes(secret);
      }),
    );
  });
});

describe("redactDeep", () => {
  it("replaces a JWK's private members whatever the field holding it is called (RFC 7517 §4, RFC 7518 §6)", () => {
    const ec = { kty: "EC", crv: "P-256", kid: "k1", x: "x-coord", y: "y-coord", d: "ec-private-d" };
    const rsa = { kty: "RSA", n: "modulus", e: "AQAB", d: "rsa-d", p: "rsa-p", q: "rsa-q", dp: "rsa-dp", dq: "rsa-dq", qi: "rsa-qi" };
    const oct = { kty: "oct", k: "hmac-key" };
    const out = JSON.stringify(redactDeep({ ring: [{ jwk: ec }], rsa, oct, key: { sealed: false, value: ec } }));
    for (const secret of ["ec-private-d", "rsa-d", "rsa-p", "rsa-q", "rsa-dp", "rsa-dq", "rsa-qi", "hmac-key"]) expect(out).not.toContain(secret);
    // The public members stay: they name the key in a diagnosis.
    for (const kept of ["x-coord", "modulus", '"kid":"k1"']) expect(out).toContain(kept);
    // Outside a JWK a `d` or a `k` is nobody's key.
    expect(redactDeep({ d: 1, k: "v" })).toEqual({ d: 1, k: "v" });
  });

  it("replaces more names that hold credentials: plurals, passphrases, API keys, nkey seeds, master keys", () => {
    const out = redactDeep({ secrets: ["a1"], passphrase: "a2", api_key: "a3", apiKey: "a4", nkey_seed: "a5", masterKey: "a6", refresh_tokens: ["a7"] });
    expect(JSON.stringify(out)).not.toMatch(/a[1-7]/);
    // A file path names where a credential is, and stays.
    expect(redactDeep({ nkey_seed_file: "/run/nats/seed", client_secret_file: "/run/s" })).toEqual({
      nkey_seed_file: "/run/nats/seed",
      client_secret_file: "/run/s",
    });
  });
});

describe("redactLogArguments", () => {
  it("makes explicit, redacted, the message pino would copy from an error", () => {
    const err = new Error(`bad ${JWT}`);
    expect(redactLogArguments([err])).toEqual([err, `bad ${CENSOR}`]);
    expect(redactLogArguments([{ err }])).toEqual([{ err }, `bad ${CENSOR}`]);
    expect(redactLogArguments([{ err, msg: "given" }])).toEqual([{ err, msg: "given" }]);
    expect(redactLogArguments([{ a: 1 }])).toEqual([{ a: 1 }]);
  });

  it("redacts the message and the values interpolated into it", () => {
    expect(redactLogArguments([`got ${JWT}`])).toEqual([`got ${CENSOR}`]);
    expect(redactLogArguments(["got %s %o", OPAQUE, { client_secret: "x" }])).toEqual(["got %s %o", CENSOR, { client_secret: CENSOR }]);
    expect(redactLogArguments([{ a: 1 }, `body client_secret=zz9`])).toEqual([{ a: 1 }, `body client_secret=${CENSOR}`]);
  });
});
