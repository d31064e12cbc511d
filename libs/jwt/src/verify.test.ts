import { createHmac } from "node:crypto";
import { describe, expect, it, beforeAll } from "vitest";
import { CompactSign, createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from "jose";
import type { CryptoKey, JWK } from "jose";
import { hasDuplicateMembers, verifyJwt, TokenRejected } from "./index.js";
import type { VerifyJwtOptions } from "./index.js";

const ISS = "https://sts.test";
const NOW = 1_800_000_000;
let privateKey: CryptoKey;
let publicJwk: JWK;
let options: VerifyJwtOptions;

const b64 = (v: unknown): string => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

async function sign(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "k1", typ: "at+jwt", ...header }).sign(privateKey);
}

const base = { iss: ISS, sub: "alice", aud: "B", iat: NOW - 10, exp: NOW + 300, jti: "j1" };

async function reason(token: string, extra: Partial<VerifyJwtOptions> = {}): Promise<string> {
  try {
    await verifyJwt(token, { ...options, ...extra });
  } catch (err) {
    if (err instanceof TokenRejected) return err.reason;
    throw err;
  }
  return "accepted";
}

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  privateKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" };
  options = {
    key: createLocalJWKSet({ keys: [publicJwk] }),
    algorithms: ["ES256"],
    issuer: ISS,
    audience: "B",
    typ: "at+jwt",
    clockTolerance: 30,
    now: () => NOW,
    maxBytes: 8192,
  };
});

describe("verifyJwt", () => {
  it("accepts a well-formed token", async () => {
    const { payload, header } = await verifyJwt(await sign(base), options);
    expect(payload.sub).toBe("alice");
    expect(header.kid).toBe("k1");
  });

  it("rejects alg none (RFC 8725 §3.1)", async () => {
    const token = `${b64({ alg: "none", typ: "at+jwt" })}.${b64(base)}.`;
    expect(await reason(token)).toBe("algorithm");
  });

  it("rejects HS256 made with the public key as secret (RFC 8725 §3.1)", async () => {
    const input = `${b64({ alg: "HS256", kid: "k1", typ: "at+jwt" })}.${b64(base)}`;
    const mac = createHmac("sha256", JSON.stringify(publicJwk)).update(input).digest("base64url");
    expect(await reason(`${input}.${mac}`)).toBe("algorithm");
  });

  it("rejects a part spelled with non-zero unused bits (not canonical base64url), which decodes to the same bytes", async () => {
    const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const token = await sign(base);
    expect(await reason(token)).toBe("accepted");
    const parts = token.split(".");
    // ES256's 64-byte signature takes 86 characters: its last one carries 4 unused bits.
    const signature = parts[2] as string;
    expect(signature.length % 4).toBe(2);
    const last = ALPHABET.indexOf(signature.at(-1) as string);
    const respelled = `${signature.slice(0, -1)}${ALPHABET[last ^ 1]}`;
    expect(Buffer.from(respelled, "base64url")).toEqual(Buffer.from(signature, "base64url"));
    expect(await reason(`${parts[0]}.${parts[1]}.${respelled}`)).toBe("malformed");
  });

  it("rejects an unknown kid", async () => {
    expect(await reason(await sign(base, { kid: "other" }))).toBe("unknown_key");
  });

  it("rejects a token signed by another key with the same kid", async () => {
    const other = await generateKeyPair("ES256");
    const token = await new SignJWT(base).setProtectedHeader({ alg: "ES256", kid: "k1", typ: "at+jwt" }).sign(other.privateKey);
    expect(await reason(token)).toBe("signature");
  });

  it("rejects expired and not-yet-valid tokens", async () => {
    expect(await reason(await sign({ ...base, exp: NOW - 31 }))).toBe("expired");
    expect(await reason(await sign({ ...base, nbf: NOW + 60 }))).toBe("not_yet_valid");
  });

  it("requires exp, which jose does not by default", async () => {
    const { exp: _exp, ...noExp } = base;
    expect(await reason(await sign(noExp))).toBe("missing_claim");
  });

  it("takes a token without iat unless iat is required (RFC 7523 §3: iat MAY), and names it missing when it is", async () => {
    const { iat: _iat, ...noIat } = base;
    const token = await sign(noIat);
    expect(await reason(token)).toBe("accepted");
    await expect(verifyJwt(token, { ...options, requiredClaims: ["iat"] })).rejects.toMatchObject({ reason: "missing_claim", message: "missing iat claim" });
    // Present, it is still checked.
    expect(await reason(await sign({ ...noIat, iat: NOW + 120 }))).toBe("invalid_claim");
  });

  it("rejects an exp, nbf or iat that is no finite number (RFC 7519 §2 NumericDate): 1e400 parses as Infinity", async () => {
    // jose's own signer refuses Infinity, so the claims are written as JSON text and signed as they are.
    const signText = (json: string): Promise<string> =>
      new CompactSign(Buffer.from(json)).setProtectedHeader({ alg: "ES256", kid: "k1", typ: "at+jwt" }).sign(privateKey);
    const claims = (dates: string): string => `{"iss":"${ISS}","sub":"alice","aud":"B","jti":"j1",${dates}}`;
    expect(await reason(await signText(claims(`"iat":${NOW - 10},"exp":${NOW + 300}`)))).toBe("accepted");
    // An exp of Infinity never expires; an iat of -Infinity is older than any revocation; an nbf of -Infinity is no date.
    for (const dates of [`"iat":${NOW - 10},"exp":1e400`, `"iat":-1e400,"exp":${NOW + 300}`, `"nbf":-1e400,"exp":${NOW + 300}`]) {
      await expect(verifyJwt(await signText(claims(dates)), options), dates).rejects.toMatchObject({ reason: "invalid_claim" });
    }
  });

  it("rejects an iat in the future", async () => {
    expect(await reason(await sign({ ...base, iat: NOW + 120 }))).toBe("invalid_claim");
  });

  it("rejects an untrusted issuer, a wrong audience and a wrong typ", async () => {
    expect(await reason(await sign({ ...base, iss: "https://evil.test" }))).toBe("issuer");
    expect(await reason(await sign({ ...base, aud: "C" }))).toBe("audience");
    expect(await reason(await sign(base, { typ: "JWT" }))).toBe("type");
  });

  it("rejects duplicate members before looking at the signature", async () => {
    const token = await sign(base);
    const [h, , s] = token.split(".");
    const payload = Buffer.from(`{"sub":"alice","iss":"${ISS}","sub":"admin"}`).toString("base64url");
    expect(await reason(`${h}.${payload}.${s}`)).toBe("duplicate_member");
  });

  it("caps size before any crypto", async () => {
    const token = await sign({ ...base, pad: "x".repeat(10_000) });
    expect(await reason(token)).toBe("too_large");
  });

  it("treats a TypeError from jose on hostile input as a rejection", async () => {
    const p384 = await generateKeyPair("ES384");
    const jwk = { ...(await exportJWK(p384.publicKey)), kid: "k1" };
    // ES256 header against a P-384 key
    expect(await reason(await sign(base), { key: createLocalJWKSet({ keys: [jwk] }) })).not.toBe("accepted");
  });

  it("rejects garbage shapes", async () => {
    expect(await reason("")).toBe("malformed");
    expect(await reason("a.b")).toBe("malformed");
    expect(await reason("a.b.c=")).toBe("malformed");
  });
});

describe("hasDuplicateMembers", () => {
  it.each([
    ['{"a":1,"a":2}', true],
    ['{"a":{"b":1,"b":2}}', true],
    ['{"a":1,"b":{"a":2}}', false],
    ['{"a":[{"x":1},{"x":2}]}', false],
    ['{"a\\u0062":1,"ab":2}', true],
    ['{"s":"\\"a\\":1","a":1}', false],
  ])("%s → %s", (json, expected) => {
    expect(hasDuplicateMembers(json)).toBe(expected);
  });
});
