/**
 * keys.jwk_file holds the one key an issuer signs with: a key no verifier should trust (an RSA modulus under 2048 bits,
 * a key meant for encryption, a kid that is not a string) stops the start, naming the file and never its contents.
 */
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SigningKeyRing } from "./key-ring.js";
import { memoryKeyStore } from "./memory-key-store.js";
import type { SigningAlg } from "./generate.js";

const policy = { rotateAfter: 3600, maxTokenLifetime: 300, clockTolerance: 60 };
const dir = mkdtempSync(join(tmpdir(), "sts-key-file-"));
let files = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A private JWK of `type` (RSA of `bits`, or P-256) with `extra` members. */
function privateJwk(type: "rsa" | "ec", extra: Record<string, unknown>, bits = 2048): Record<string, unknown> {
  const { privateKey } = type === "rsa" ? generateKeyPairSync("rsa", { modulusLength: bits }) : generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { ...privateKey.export({ format: "jwk" }), ...extra };
}

/**
 * Starts a ring for `algorithm` (keys.algorithm) on a file holding `jwk`, of mode `mode`; resolves to what init threw
 * (undefined when it started) and the ring.
 */
async function startOn(
  jwk: Record<string, unknown>,
  algorithm: SigningAlg = "ES256",
  mode = 0o600,
): Promise<{ err: unknown; ring: SigningKeyRing; store: ReturnType<typeof memoryKeyStore> }> {
  const file = join(dir, `key-${++files}.jwk`);
  writeFileSync(file, JSON.stringify(jwk));
  chmodSync(file, mode);
  const store = memoryKeyStore();
  const ring = new SigningKeyRing({ store, algorithm, policy, jwkFile: file, now: () => 1_000_000 });
  const err = await ring.init().then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err, ring, store };
}

describe("a key file", () => {
  it.each(["RS256", "PS256"] as const)("with an RSA key under 2048 bits is refused for %s (RFC 7518 §3.3, §3.5), nothing stored", async (alg) => {
    const jwk = privateJwk("rsa", { kid: "small", alg }, 1024);
    const { err, store } = await startOn(jwk, alg);
    expect(err).toBeInstanceOf(TypeError);
    expect(String(err)).toContain("an RSA key of 1024 bits");
    expect(String(err)).not.toContain(String(jwk.d).slice(0, 16));
    expect(store.list()).toEqual([]);
  });

  it("with an RSA key of 2048 bits signs", async () => {
    const { err, ring } = await startOn(privateJwk("rsa", { kid: "rsa-2048", alg: "PS256" }), "PS256");
    expect(err).toBeUndefined();
    expect(ring.signingKey()).toMatchObject({ kid: "rsa-2048", alg: "PS256" });
  });

  it("naming an alg other than keys.algorithm is refused: the metadata advertises keys.algorithm (RFC 7517 §4.4), nothing stored", async () => {
    // The same RSA key could sign either: before, the file's PS256 won while the gateway advertised RS256.
    const { err, store } = await startOn(privateJwk("rsa", { kid: "rsa-pss", alg: "PS256" }), "RS256");
    expect(err).toBeInstanceOf(TypeError);
    expect(String(err)).toContain("its alg is not keys.algorithm (RS256)");
    expect(store.list()).toEqual([]);
  });

  it.each([
    ["others", 0o602],
    ["its group", 0o620],
  ])("that %s may write is refused: whoever rewrites it chooses the key the issuer signs with, nothing stored", async (_who, mode) => {
    const { err, store } = await startOn(privateJwk("ec", { kid: "loose" }), "ES256", mode);
    expect(err).toBeInstanceOf(TypeError);
    expect(String(err)).toContain("may be written by users other than its owner");
    expect(store.list()).toEqual([]);
  });

  it("that only its owner may write signs, whoever may read it (a Kubernetes secret is mounted 0644)", async () => {
    const { err, ring } = await startOn(privateJwk("ec", { kid: "readable" }), "ES256", 0o644);
    expect(err).toBeUndefined();
    expect(ring.signingKey().kid).toBe("readable");
  });

  it.each([
    ["use enc", { use: "enc" }, 'its use is not "sig"'],
    ["key_ops without sign", { key_ops: ["decrypt"] }, 'its key_ops do not include "sign"'],
  ])("meant for encryption (%s) is refused (RFC 7517 §4.2, §4.3)", async (_name, extra, message) => {
    const { err, store } = await startOn(privateJwk("ec", extra));
    expect(err).toBeInstanceOf(TypeError);
    expect(String(err)).toContain(message);
    expect(store.list()).toEqual([]);
  });

  it.each([
    ["ES256", () => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, ["x", "y"]],
    ["EdDSA", () => generateKeyPairSync("ed25519").privateKey, ["x"]],
    ["RS256", () => generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey, ["n"]],
  ] as const)(
    "for %s whose public members are another key's is refused: its tokens would not verify against the key published for them",
    async (alg, newKey, members) => {
      const jwk = newKey().export({ format: "jwk" }) as Record<string, unknown>;
      const other = newKey().export({ format: "jwk" }) as Record<string, unknown>;
      for (const m of members) jwk[m] = other[m];
      const { err, store } = await startOn({ ...jwk, kid: "halves" }, alg);
      expect(err).toBeInstanceOf(TypeError);
      expect(String(err)).toContain("its public members are not those of its private key");
      expect(String(err)).not.toContain(String(jwk.d).slice(0, 16));
      expect(store.list()).toEqual([]);
    },
  );

  it.each([
    ["a number", 5],
    ["empty", ""],
    ["with a space", "key one"],
    ["ending in a dot", "key."],
  ])("whose kid is %s is refused: its tokens' header and its record would not agree (RFC 7515 §4.1.4)", async (_name, kid) => {
    const { err, store } = await startOn(privateJwk("ec", { kid }));
    expect(err).toBeInstanceOf(TypeError);
    expect(String(err)).toContain("its kid must be a string");
    expect(store.list()).toEqual([]);
  });

  it("with a kid of dots and slashes, or none (its thumbprint), signs and is stored under it", async () => {
    for (const kid of ["2024.sig/a=1", undefined]) {
      const { err, ring, store } = await startOn(privateJwk("ec", kid === undefined ? {} : { kid }));
      expect(err).toBeUndefined();
      const signing = ring.signingKey().kid;
      if (kid !== undefined) expect(signing).toBe(kid);
      expect(store.list().map((k) => k.kid)).toEqual([signing]);
    }
  });
});
