/**
 * A ring on keys.jwk_file, on a real NATS KV bucket, across the file's replacement (its documented rotation: replace the
 * file, restart the issuer): the key that signs is always published, the key it replaced stays published until what it
 * signed has expired, and only public members are published, whatever else the file holds.
 */
import { randomBytes, webcrypto } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from "jose";
import { signJwt } from "@sts/jwt";
import { BUCKETS, connectNats } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { PublicKeyRing, parseMasterKey } from "@sts/keys";
import type { SigningKeyRing } from "@sts/keys";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { ringOnBucket } from "./ring.fixture.js";

let server: NatsServerHandle;
let nats: NatsHandle;
let dir: string;
let buckets = 0;
const caches: Array<{ stop(): void }> = [];
const policy = { rotateAfter: 1000, maxTokenLifetime: 300, clockTolerance: 30 };
const T = 5_000_000;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "key-file-test" });
  dir = mkdtempSync(join(tmpdir(), "sts-jwk-file-"));
}, 30_000);

afterAll(async () => {
  for (const c of caches) c.stop();
  await nats?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a fresh ES256 private JWK file with `kid`; returns its path. */
async function keyFile(kid: string): Promise<string> {
  const pair = await generateKeyPair("ES256", { extractable: true });
  const file = join(dir, `${kid}-${randomBytes(4).toString("hex")}.jwk`);
  writeFileSync(file, JSON.stringify({ ...(await exportJWK(pair.privateKey)), kid, alg: "ES256" }), { mode: 0o600 });
  return file;
}

/** An issuer (re)started on `bucket` with the key file `jwkFile` (or the master key), at `clock`. */
async function issuer(bucket: string, clock: { t: number }, jwkFile?: string): Promise<SigningKeyRing> {
  const key = jwkFile ? { jwkFile } : { masterKey: parseMasterKey(randomBytes(32).toString("base64url")) };
  return (await ringOnBucket(nats, bucket, caches, { policy, now: () => clock.t, ...key })).ring;
}

/** Whether a token the ring signs now verifies against the JWKS it publishes, as every verifier checks it. */
async function verifiesWithOwnJwks(ring: SigningKeyRing, jwks = ring.jwks()): Promise<boolean> {
  const token = signJwt({ iss: "https://sts.test", sub: "s", exp: Math.floor(Date.now() / 1000) + 60 }, ring.signingKey(), "at+jwt");
  return jwtVerify(token, createLocalJWKSet(jwks)).then(
    () => true,
    () => false,
  );
}

const kids = (ring: SigningKeyRing): string[] => ring.jwks().keys.map((k) => k.kid as string);

describe("a signing key file replaced and the issuer restarted", () => {
  it("publishes the new key, and the old one until its tokens have expired, whichever kid sorts first", async () => {
    const bucket = `${BUCKETS.keys}_file_${++buckets}`;
    const clock = { t: T };
    const before = await issuer(bucket, clock, await keyFile("kid-b"));
    expect(kids(before)).toEqual(["kid-b"]);
    clock.t += 3600;
    const after = await issuer(bucket, clock, await keyFile("kid-a"));
    expect(after.signingKey().kid).toBe("kid-a");
    expect(kids(after).sort()).toEqual(["kid-a", "kid-b"]);
    expect(await verifiesWithOwnJwks(after)).toBe(true);
    // A token the old file signed just before the restart lives maxTokenLifetime (plus the tolerance): so does its key.
    clock.t += policy.maxTokenLifetime + policy.clockTolerance - 1;
    expect(kids(after).sort()).toEqual(["kid-a", "kid-b"]);
    clock.t += 2;
    expect(kids(after)).toEqual(["kid-a"]);
    // A replica, or a later restart, on the same file changes nothing.
    const again = await issuer(bucket, clock, await keyFileCopy(after));
    expect(kids(again)).toEqual(["kid-a"]);
  });

  it("publishes the new public key when the new file reuses the old kid, to verifiers already running too", async () => {
    const bucket = `${BUCKETS.keys}_file_${++buckets}`;
    const clock = { t: T };
    const { cache } = await ringOnBucket(nats, bucket, caches, { policy, now: () => clock.t, jwkFile: await keyFile("signing") });
    // A verifier reading the keys bucket (another issuer replica's introspection, the exchanger), running throughout.
    const running = new PublicKeyRing(
      () => [...cache.values()],
      policy,
      () => clock.t,
    );
    await waitFor(() => [...cache.values()].some((k) => k.kid === "signing"));
    expect(running.jwks().keys.map((k) => k.kid)).toEqual(["signing"]);
    running.keyResolver();
    clock.t += 3600;
    const after = await issuer(bucket, clock, await keyFile("signing"));
    expect(kids(after)).toEqual(["signing"]);
    expect(await verifiesWithOwnJwks(after)).toBe(true);
    const x = after.jwks().keys[0]?.x;
    await waitFor(() => [...cache.values()].some((k) => k.public_jwk.x === x));
    const token = signJwt({ iss: "https://sts.test", sub: "s", exp: Math.floor(Date.now() / 1000) + 60 }, after.signingKey(), "at+jwt");
    await expect(jwtVerify(token, running.keyResolver())).resolves.toMatchObject({ protectedHeader: { kid: "signing" } });
  });

  it("publishes only the public members of a key file exported by WebCrypto (key_ops sign, ext)", async () => {
    const pair = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
    const exported = await webcrypto.subtle.exportKey("jwk", pair.privateKey);
    expect(exported.key_ops).toEqual(["sign"]);
    const file = join(dir, "webcrypto.jwk");
    writeFileSync(file, JSON.stringify({ ...exported, kid: "webcrypto", alg: "ES256" }), { mode: 0o600 });
    const ring = await issuer(`${BUCKETS.keys}_file_${++buckets}`, { t: T }, file);
    const [published] = ring.jwks().keys;
    expect(Object.keys(published ?? {}).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x", "y"]);
    expect(await verifiesWithOwnJwks(ring)).toBe(true);
  });

  it("signs with a key of its own when started on the master key again, the file's key published as its predecessor", async () => {
    const bucket = `${BUCKETS.keys}_file_${++buckets}`;
    const clock = { t: T };
    await issuer(bucket, clock, await keyFile("from-file"));
    clock.t += 3600;
    const managed = await issuer(bucket, clock);
    expect(managed.signingKey().kid).not.toBe("from-file");
    expect(kids(managed)).toContain("from-file");
    expect(await verifiesWithOwnJwks(managed)).toBe(true);
  });
});

/** The key file `ring` signs with, written again (a replica started on the same file). */
async function keyFileCopy(ring: SigningKeyRing): Promise<string> {
  const { kid, privateKey } = ring.signingKey();
  const file = join(dir, `copy-${randomBytes(4).toString("hex")}.jwk`);
  writeFileSync(file, JSON.stringify({ ...privateKey.export({ format: "jwk" }), kid, alg: "ES256" }), { mode: 0o600 });
  return file;
}
