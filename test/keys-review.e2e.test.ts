/**
 * The issuer's signing key ring across replicas and settings: every replica sharing the keys bucket must open the
 * ring's keys with its own master key. Real nats-server and issuer processes.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUCKETS, connectNats, openBucket } from "@sts/nats";
import { startStack } from "./harness.js";
import type { Stack } from "./harness.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack(
    { clients: [{ client_id: "app", client_secret: "app-secret-0123456789", scope: ["a"], audience: ["svc"] }] },
    { services: ["issuer"] },
  );
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/** The names in the keys bucket, as NATS holds them. */
async function keyNames(): Promise<string[]> {
  const nats = await connectNats({ servers: stack.nats.url, name: "keys-review-e2e" });
  try {
    const kv = await openBucket(nats, BUCKETS.keys);
    const names: string[] = [];
    for await (const name of await kv.keys()) names.push(name);
    return names.sort();
  } finally {
    await nats.close();
  }
}

describe("an issuer replica started with another STS_MASTER_KEY", () => {
  it("is refused at start, naming the key it cannot open (never a key), and leaves the keys bucket as it was", async () => {
    const before = await keyNames();
    const other = randomBytes(32).toString("base64url");
    const started = stack.startReplica("issuer", { STS_MASTER_KEY: other });
    // Before, it started and served: every token it signed failed (server_error), and the key its rotation made, sealed
    // under its master key, stopped every other replica from signing once it activated.
    const err = await started.then(
      async ({ handle }) => {
        await handle.stop();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(String(err)).toMatch(/the master key does not open signing key [-\w]+ of the keys bucket/);
    expect(String(err)).not.toContain(other);
    expect(await keyNames()).toEqual(before);
  });

  it("starts when it has the ring's master key", async () => {
    const { handle } = await stack.startReplica("issuer");
    await handle.stop();
  });
});
