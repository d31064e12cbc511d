/**
 * A deployment that moves between keys.jwk_file and the master key while keys of the other kind are in the store: a
 * ring on the master key never ends up with a key file's record (no private part here) as its signing key, whether
 * the file's key was recorded to activate after a waiting rotation (the issuer then went back to the master key within
 * its pre-publication) or was recorded by a replica started on the file while this one ran.
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

const policy = { rotateAfter: 3600, maxTokenLifetime: 300, clockTolerance: 30 };
const PREPUBLISH = 125;
const master = randomBytes(32).toString("base64url");
const dir = mkdtempSync(join(tmpdir(), "sts-key-switch-"));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A started replica on the master key, on `store`, at `clock`. */
async function managedRing(store: KeyStore, clock: { t: number }): Promise<SigningKeyRing> {
  const ring = new SigningKeyRing({ store, algorithm: "ES256", policy, masterKey: parseMasterKey(master), prepublishSeconds: PREPUBLISH, now: () => clock.t });
  await ring.init();
  return ring;
}

/** A started replica on a fresh key file with `kid`, on `store`, at `clock`. */
async function fileRing(store: KeyStore, clock: { t: number }, kid: string): Promise<SigningKeyRing> {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const file = join(dir, `${kid}-${randomBytes(4).toString("hex")}.jwk`);
  writeFileSync(file, JSON.stringify({ ...(await exportJWK(privateKey)), kid }), { mode: 0o600 });
  const ring = new SigningKeyRing({ store, algorithm: "ES256", policy, jwkFile: file, now: () => clock.t });
  await ring.init();
  return ring;
}

/** The kid `ring` signs with now, or the OAuth code it refuses with. */
function signsWith(ring: SigningKeyRing): string {
  try {
    return ring.signingKey().kid;
  } catch (err) {
    return `refused: ${(err as { code?: string }).code ?? String(err)}`;
  }
}

const kids = (jwks: { keys: Array<{ kid?: string }> }): string[] => jwks.keys.map((k) => k.kid ?? "");

describe("a ring on the master key beside a key file's record", () => {
  it("still signs once a file key recorded during a waiting rotation activates (back on the master key within it)", async () => {
    const store = memoryKeyStore();
    const clock = { t: 1_000_000 };
    const first = await managedRing(store, clock);
    clock.t += policy.rotateAfter;
    const waiting = await first.maintain();
    // Restarted on a key file: its key is recorded to activate after the waiting one.
    await fileRing(store, clock, "file-key");
    // And back on the master key a moment later, every replica restarted.
    clock.t += 10;
    const back = await managedRing(store, clock);
    const verifier = new PublicKeyRing(
      () => store.list(),
      policy,
      () => clock.t,
    );
    const ringKey = signsWith(back);
    expect(ringKey).toBe(first.signingKey().kid);
    // Every key it may sign with is published before it does.
    const published = kids(verifier.jwks());
    clock.t = (waiting?.activate_at ?? 0) + 2;
    const signing = signsWith(back);
    expect(signing).not.toMatch(/^refused/);
    expect(signing).not.toBe("file-key");
    expect(published).toContain(signing);
    expect(kids(verifier.jwks())).toEqual(expect.arrayContaining([signing, "file-key"]));
    // Still so past the file key's tail and the next scheduled rotation.
    clock.t += policy.maxTokenLifetime + policy.clockTolerance + 1;
    await back.maintain();
    expect(signsWith(back)).toBe(signing);
    expect(kids(verifier.jwks())).toContain(signing);
  });

  it("makes a key of its own at the next key check when a replica on a key file recorded its key meanwhile", async () => {
    const store = memoryKeyStore();
    const clock = { t: 1_000_000 };
    const managed = await managedRing(store, clock);
    clock.t += 10;
    await fileRing(store, clock, "file-key");
    // Until the key check, a mint is asked to retry (temporarily_unavailable), never failed as a server error.
    expect(signsWith(managed)).toBe("refused: temporarily_unavailable");
    const made = await managed.maintain();
    expect(made).toMatchObject({ predecessor: "file-key", activate_at: clock.t });
    expect(signsWith(managed)).toBe(made?.kid);
    expect(kids(managed.jwks())).toEqual(expect.arrayContaining([made?.kid, "file-key"]));
  });
});
