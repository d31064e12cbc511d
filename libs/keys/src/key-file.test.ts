/**
 * keys.jwk_file holds the one key an issuer signs with: a key no verifier should trust (an RSA modulus under 2048 bits,
 * a key meant for encryption, a kid that is not a string) stops the start, naming the file and never its contents.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SigningKeyRing } from "./key-ring.js";
import { memoryKeyStore } from "./memory-key-store.js";

const policy = { rotateAfter: 3600, maxTokenLifetime: 300, clockTolerance: 60 };
const dir = mkdtempSync(join(tmpdir(), "sts-key-file-"));
let files = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A private JWK of `type` (RSA of `bits`, or P-256) with `extra` members. */
function privateJwk(type: "rsa" | "ec", extra: Record<string, unknown>, bits = 2048): Record<string, unknown> {
  const { privateKey } = type === "rsa" ? generateKeyPairSync("rsa", { modulusLength: bits }) : generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { ...privateKey.export({ format: "jwk" }), ...extra };
}

/** Starts a ring on a file holding `jwk`; resolves to what init threw (undefined when it started) and the ring. */
async function startOn(jwk: Record<string, unknown>): Promise<{ err: unknown; ring: SigningKeyRing; store: ReturnType<typeof memoryKeyStore> }> {
  const file = join(dir, `key-${++files}.jwk`);
  writeFileSync(file, JSON.stringify(jwk));
  const store = memoryKeyStore();
  const ring = new SigningKeyRing({ store, algorithm: "ES256", policy, jwkFile: file, now: () => 1_000_000 });
  const err = await ring.init().then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err, ring, store };
}

describe("a key file", () => {
  it.each(["RS256", "PS256"])("with an RSA key under 2048 bits is refused for %s (RFC 7518 §3.3, §3.5), nothing stored", async (alg) => {
    const jwk = privateJwk("rsa", { kid: "small", alg }, 1024);
    const { err, store } = await startOn(jwk);
    expect(err).toBeInstanceOf(TypeError);
    expect(String(err)).toContain("an RSA key of 1024 bits");
    expect(String(err)).not.toContain(String(jwk.d).slice(0, 16));
    expect(store.list()).toEqual([]);
  });

  it("with an RSA key of 2048 bits signs", async () => {
    const { err, ring } = await startOn(privateJwk("rsa", { kid: "rsa-2048", alg: "PS256" }));
    expect(err).toBeUndefined();
    expect(ring.signingKey()).toMatchObject({ kid: "rsa-2048", alg: "PS256" });
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
