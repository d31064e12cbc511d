/**
 * Replicas sharing one keys bucket must share the master key the ring's keys are sealed with: a replica started with
 * another one is refused at start, before it can seal a key of its own that the others cannot open.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { SigningKeyRing, keyName } from "./key-ring.js";
import type { KeyStore } from "./key-ring.js";
import { memoryKeyStore } from "./memory-key-store.js";
import { parseMasterKey } from "./master-key.js";

const policy = { rotateAfter: 3600, maxTokenLifetime: 300, clockTolerance: 60 };
const PREPUBLISH = 125;

/** A ring on `store` with the master key `text`, at `clock`; not started. */
function ringWith(store: KeyStore, text: string, clock: { t: number }): SigningKeyRing {
  return new SigningKeyRing({ store, algorithm: "ES256", policy, masterKey: parseMasterKey(text), prepublishSeconds: PREPUBLISH, now: () => clock.t });
}

/** What `init` threw, or undefined. */
const initError = (ring: SigningKeyRing): Promise<unknown> =>
  ring.init().then(
    () => undefined,
    (err: unknown) => err,
  );

describe("a replica whose master key is not the ring's", () => {
  it("is refused at start, naming the key it cannot open and never the master key, and writes nothing", async () => {
    const store = memoryKeyStore();
    const clock = { t: 1_000_000 };
    const first = ringWith(store, randomBytes(32).toString("base64url"), clock);
    await first.init();
    const kid = first.signingKey().kid;
    const before = store.list();

    const other = randomBytes(32).toString("hex");
    const err = await initError(ringWith(store, other, clock));
    expect(err).toBeInstanceOf(TypeError);
    expect(String(err)).toContain(`does not open signing key ${kid}`);
    expect(String(err)).not.toContain(other);
    expect(err).not.toHaveProperty("cause");
    expect(store.list()).toEqual(before);
  });

  it("writes nothing either when a key file's record is the newest key (it would make a key to sign after it)", async () => {
    const store = memoryKeyStore();
    const clock = { t: 1_000_000 };
    await ringWith(store, randomBytes(32).toString("base64url"), clock).init();
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const file = join(mkdtempSync(join(tmpdir(), "sts-master-key-")), "file.jwk");
    writeFileSync(file, JSON.stringify({ ...privateKey.export({ format: "jwk" }), kid: "file-key" }), { mode: 0o600 });
    await new SigningKeyRing({ store, algorithm: "ES256", policy, jwkFile: file, now: () => clock.t }).init();
    rmSync(dirname(file), { recursive: true, force: true });
    clock.t += 10;
    const before = store.list();
    expect(await initError(ringWith(store, randomBytes(32).toString("base64url"), clock))).toBeInstanceOf(TypeError);
    expect(store.list()).toEqual(before);
  });

  it("cannot go on to seal a successor the other replicas cannot open (they would all stop signing once it activates)", async () => {
    const store = memoryKeyStore();
    const clock = { t: 1_000_000 };
    const good = ringWith(store, randomBytes(32).toString("base64url"), clock);
    await good.init();
    const stray = ringWith(store, randomBytes(32).toString("base64url"), clock);
    const refused = await initError(stray);
    clock.t += policy.rotateAfter;
    // A replica that started runs the key timer; before, this one did, and sealed the next key under its master key.
    if (refused === undefined) await stray.maintain();
    clock.t += PREPUBLISH + 1;
    // The ring's replicas still sign with a key they can open.
    await good.maintain();
    clock.t += PREPUBLISH + 1;
    expect(() => good.signingKey()).not.toThrow();
  });

  it("starts when its master key is the ring's, whatever its spelling (hex or base64url of the same bytes)", async () => {
    const store = memoryKeyStore();
    const clock = { t: 1_000_000 };
    const bytes = randomBytes(32);
    const first = ringWith(store, bytes.toString("base64url"), clock);
    await first.init();
    clock.t += policy.rotateAfter;
    await first.maintain();
    const second = ringWith(store, bytes.toString("hex"), clock);
    expect(await initError(second)).toBeUndefined();
    expect(second.signingKey().kid).toBe(first.signingKey().kid);
  });
});

describe("a key record another replica made that this replica's master key cannot open", () => {
  it("fails signing with an error naming the key and saying nothing is signed, never the master key", async () => {
    const store = memoryKeyStore();
    const clock = { t: 1_000_000 };
    const master = randomBytes(32).toString("base64url");
    const maker = ringWith(store, master, clock);
    const signer = ringWith(store, master, clock);
    await maker.init();
    await signer.init();
    clock.t += policy.rotateAfter;
    const made = await maker.maintain();
    const record = store.list().find((k) => k.kid === made?.kid);
    expect(record?.sealed).toBeDefined();
    // Altered in the bucket: the authentication tag no longer matches.
    const sealed = record!.sealed!;
    await store.put(keyName(record!.kid), { ...record!, sealed: { ...sealed, ct: `${sealed.ct.slice(0, -2)}${sealed.ct.endsWith("AA") ? "BB" : "AA"}` } });
    clock.t += PREPUBLISH + 1;
    let err: unknown;
    try {
      signer.signingKey();
    } catch (e) {
      err = e;
    }
    expect(String(err)).toContain(`signing key ${record!.kid} of the keys bucket cannot be opened with this replica's master key`);
    expect(String(err)).not.toContain(master);
  });
});
