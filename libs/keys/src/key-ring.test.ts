/**
 * A ring on keys.jwk_file sharing its store with ring keys (a rotation made just before the switch, a replica still on
 * the master key during a rollout): the key that signs is always published; and a malformed key file is refused
 * without its contents in the message.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { exportJWK, generateKeyPair } from "jose";
import { PublicKeyRing, SigningKeyRing } from "./key-ring.js";
import type { KeyStore } from "./key-ring.js";
import { memoryKeyStore } from "./memory-key-store.js";
import { parseMasterKey } from "./master-key.js";

const policy = { rotateAfter: 3600, maxTokenLifetime: 300, clockTolerance: 60 };
const PREPUBLISH = 125;
const dir = mkdtempSync(join(tmpdir(), "sts-key-ring-"));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes an ES256 private JWK file with `kid`; returns its path. */
async function keyFile(kid: string): Promise<string> {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const file = join(dir, `${kid}-${randomBytes(4).toString("hex")}.jwk`);
  writeFileSync(file, JSON.stringify({ ...(await exportJWK(privateKey)), kid }), { mode: 0o600 });
  return file;
}

/** A replica on the master key, on `store`, at `clock`. */
async function managedRing(store: KeyStore, clock: { t: number }): Promise<SigningKeyRing> {
  const masterKey = parseMasterKey(randomBytes(32).toString("base64url"));
  const ring = new SigningKeyRing({ store, algorithm: "ES256", policy, masterKey, prepublishSeconds: PREPUBLISH, now: () => clock.t });
  await ring.init();
  return ring;
}

const kids = (jwks: { keys: Array<{ kid?: string }> }): string[] => jwks.keys.map((k) => k.kid ?? "");

describe("a ring on keys.jwk_file beside ring keys", () => {
  it("publishes the file key, to every verifier of the store, when a rotation left a ring key waiting to activate", async () => {
    const store = memoryKeyStore();
    const clock = { t: 1_000_000 };
    const managed = await managedRing(store, clock);
    clock.t += policy.rotateAfter;
    const waiting = await managed.maintain();
    expect(waiting?.activate_at).toBe(clock.t + PREPUBLISH);
    // Restarted on keys.jwk_file within the waiting key's pre-publication.
    const fileRing = new SigningKeyRing({ store, algorithm: "ES256", policy, jwkFile: await keyFile("file-key"), now: () => clock.t });
    await fileRing.init();
    const verifier = new PublicKeyRing(
      () => store.list(),
      policy,
      () => clock.t,
    );
    const start = clock.t;
    // Past the waiting key's activation, and past the tail a successor of the file key would leave it.
    const times = [0, 200, PREPUBLISH + policy.maxTokenLifetime + policy.clockTolerance + 1, 10 * policy.rotateAfter];
    const seen = times.map((at) => {
      clock.t = start + at;
      return { at, signs: fileRing.signingKey().kid, own: kids(fileRing.jwks()).includes("file-key"), store: kids(verifier.jwks()).includes("file-key") };
    });
    expect(seen).toEqual(times.map((at) => ({ at, signs: "file-key", own: true, store: true })));
    // And an operator is told so, the waiting key never signing here.
    clock.t = start;
    expect(fileRing.statuses().map((s) => [s.key.kid, s.state])).toEqual([
      [expect.any(String), "verifying"],
      [waiting?.kid, "upcoming"],
      ["file-key", "signing"],
    ]);
  });

  it("keeps publishing the key it signs with when a replica on the master key makes a key after it (a rollout)", async () => {
    const store = memoryKeyStore();
    const clock = { t: 1_000_000 };
    const fileRing = new SigningKeyRing({ store, algorithm: "ES256", policy, jwkFile: await keyFile("file-key"), now: () => clock.t });
    await fileRing.init();
    clock.t += 10;
    // A replica still on the master key, started now: it cannot sign with the file's key, so it makes one of its own.
    await managedRing(store, clock);
    clock.t += policy.maxTokenLifetime + policy.clockTolerance + 1;
    expect(fileRing.signingKey().kid).toBe("file-key");
    expect(kids(fileRing.jwks())).toContain("file-key");
    expect(fileRing.statuses().find((s) => s.state === "signing")?.key.kid).toBe("file-key");
  });

  it("refuses a malformed key file without quoting it: the text JSON.parse would quote is private key bytes", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const { d } = await exportJWK(privateKey);
    const file = join(dir, "truncated.jwk");
    // Its quotes lost in an edit: V8's message would quote the text around the fault, `d` included.
    writeFileSync(file, `{"kty":"EC","crv":"P-256","d":${d ?? ""}}`, { mode: 0o600 });
    const ring = new SigningKeyRing({ store: memoryKeyStore(), algorithm: "ES256", policy, jwkFile: file, now: () => 1_000_000 });
    const err = await ring.init().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TypeError);
    expect(err).toMatchObject({ message: `${file} is not valid JSON` });
    expect(err).not.toHaveProperty("cause");
    expect(String(err)).not.toContain((d ?? "").slice(0, 8));
  });
});
