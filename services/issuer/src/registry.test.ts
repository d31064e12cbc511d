/** Seeding config clients into the clients bucket on a real nats-server: what is stored of a secret, and when a record is rewritten. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseClientRecord, verifySecret } from "@sts/client-auth";
import type { ClientRecord } from "@sts/client-auth";
import { clientSchema } from "@sts/config";
import { KvCache, connectNats, dropHistory, encodeKey, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { startNats } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { ClientRegistry } from "./registry.js";

let server: NatsServerHandle;
let nats: NatsHandle;
let buckets = 0;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "registry-test" });
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.stop();
});

/** A registry on a bucket of its own, and how to read a record as stored. */
async function registry(): Promise<{
  registry: ClientRegistry;
  stored: (id: string) => Promise<ClientRecord | undefined>;
  revisions: (id: string) => Promise<number>;
  stop: () => void;
}> {
  const bucket = `registry_test_${++buckets}`;
  // As the issuer's clients bucket keeps them: several revisions per key.
  const kv = await openBucket(nats, bucket, { history: 5 });
  const cache = new KvCache(kv, { parse: parseClientRecord, invalid: "forget" });
  await cache.ready();
  const stored = async (id: string) => parseClientRecord((await kv.get(encodeKey(id)))?.json());
  const revisions = async (id: string) => {
    let n = 0;
    for await (const _ of await kv.history({ key: encodeKey(id) })) n++;
    return n;
  };
  return {
    registry: new ClientRegistry(
      kv,
      cache,
      () => 1_800_000_000,
      (key) => dropHistory(nats, bucket, key),
    ),
    stored,
    revisions,
    stop: () => cache.stop(),
  };
}

const client = (secret: string) => clientSchema.parse({ client_id: "svc-a", client_secret: secret, scope: ["a"], audience: ["svc-b"] });

describe("seeding a config client with a secret", () => {
  it("stores nothing derived from the secret but its scrypt hash: the digest is the same whatever the secret", async () => {
    const [one, two] = [await registry(), await registry()];
    await one.registry.seed([client("first-secret-0000000001")]);
    await two.registry.seed([client("other-secret-0000000002")]);
    const [a, b] = [await one.stored("svc-a"), await two.stored("svc-a")];
    expect(a?.seed_digest).toBeDefined();
    expect(a?.seed_digest).toBe(b?.seed_digest);
    expect(await verifySecret(a?.secret_hash ?? "", "first-secret-0000000001")).toBe(true);
    one.stop();
    two.stop();
  });

  it("rewrites the record when the secret changed, and only then", async () => {
    const r = await registry();
    expect(await r.registry.seed([client("first-secret-0000000001")])).toBe(1);
    const first = await r.stored("svc-a");
    expect(await r.registry.seed([client("first-secret-0000000001")])).toBe(0);
    expect((await r.stored("svc-a"))?.secret_hash).toBe(first?.secret_hash);
    expect(await r.registry.seed([client("new-secret-00000000000003")])).toBe(1);
    const rewritten = await r.stored("svc-a");
    expect(await verifySecret(rewritten?.secret_hash ?? "", "new-secret-00000000000003")).toBe(true);
    expect(await verifySecret(rewritten?.secret_hash ?? "", "first-secret-0000000001")).toBe(false);
    // The revision before (its digest, the replaced secret's hash) is not kept in the bucket's history.
    expect(await r.revisions("svc-a")).toBe(1);
    r.stop();
  });
});
