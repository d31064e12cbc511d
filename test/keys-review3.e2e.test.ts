/**
 * keys.jwk_file checked as the real issuer reads it: a key file that would have it publish one key and sign with
 * another, or sign with an alg other than the one the stack advertises, stops the start before anything reaches the
 * keys bucket the replicas share. Real nats-server and issuer processes.
 */
import { generateKeyPairSync } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUCKETS, connectNats, openBucket } from "@sts/nats";
import { startStack } from "./harness.js";
import type { Stack } from "./harness.js";

let stack: Stack;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sts-keys-review3-"));
  stack = await startStack(
    { clients: [{ client_id: "app", client_secret: "app-secret-0123456789", scope: ["a"], audience: ["svc"] }] },
    { services: ["issuer"] },
  );
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The keys bucket's names and revisions, as NATS holds them. */
async function keysBucket(): Promise<string[]> {
  const nats = await connectNats({ servers: stack.nats.url, name: "keys-review3-e2e" });
  try {
    const kv = await openBucket(nats, BUCKETS.keys);
    const names: string[] = [];
    for await (const name of await kv.keys()) names.push(`${name}@${(await kv.get(name))?.revision ?? "?"}`);
    return names.sort();
  } finally {
    await nats.close();
  }
}

/** Writes `jwk` to a key file only its owner may read and write; returns its path. */
function keyFile(name: string, jwk: Record<string, unknown>): string {
  const file = join(dir, `${name}.jwk`);
  writeFileSync(file, JSON.stringify(jwk), { mode: 0o600 });
  return file;
}

/** What starting one more issuer replica on `file` threw (undefined when it started; it is stopped again). */
async function replicaOn(file: string): Promise<unknown> {
  return stack.startReplica("issuer", { STS_KEYS_JWK_FILE: file }).then(
    async ({ handle }) => {
      await handle.stop();
      return undefined;
    },
    (e: unknown) => e,
  );
}

const jwkOf = (key: KeyObject): Record<string, unknown> => key.export({ format: "jwk" });

describe("an issuer replica started on keys.jwk_file", () => {
  it("whose public members are another key's is refused at start, never quoting the key, and leaves the keys bucket as it was", async () => {
    const before = await keysBucket();
    const signing = jwkOf(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
    const other = jwkOf(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
    // Before, it started: it recorded the other key as the newest in the shared bucket and signed with its own, so
    // every token it issued was refused by every verifier.
    const err = await replicaOn(keyFile("halves", { ...signing, x: other.x, y: other.y, kid: "halves" }));
    expect(String(err)).toContain("its public members are not those of its private key");
    expect(String(err)).not.toContain(String(signing.d));
    expect(await keysBucket()).toEqual(before);
  });

  it("naming an alg other than keys.algorithm (ES256 here) is refused at start and leaves the keys bucket as it was", async () => {
    const before = await keysBucket();
    // Before, it signed EdDSA while the gateway's metadata advertised ES256 (id_token_signing_alg_values_supported).
    const err = await replicaOn(keyFile("eddsa", { ...jwkOf(generateKeyPairSync("ed25519").privateKey), kid: "eddsa", alg: "EdDSA" }));
    expect(String(err)).toContain("its alg is not keys.algorithm (ES256)");
    expect(await keysBucket()).toEqual(before);
  });

  it("holding a sound key for keys.algorithm starts", async () => {
    const err = await replicaOn(keyFile("sound", { ...jwkOf(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey), kid: "sound", alg: "ES256" }));
    expect(err).toBeUndefined();
  });
});
