/**
 * Single use of assertion jtis on a real NATS KV bucket: one JWT a client signed is spent once, whichever parameter
 * carried it (RFC 7519 §4.1.7, SECURITY.md: replay caches keyed on (iss, jti)).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { startNats } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { kvJtiRecorder } from "./assertion-replay.js";

let server: NatsServerHandle;
let nats: NatsHandle;
let bucketCount = 0;
const exp = Math.floor(Date.now() / 1000) + 60;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "assertion-replay-test" });
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.stop();
});

const bucket = () => openBucket(nats, `jti_test_${++bucketCount}`);

describe("kvJtiRecorder", () => {
  it("spends a jti once per client", async () => {
    const record = kvJtiRecorder(await bucket(), "client_assertion");
    expect(await record("c", "j1", exp)).toBe(true);
    expect(await record("c", "j1", exp)).toBe(false);
    expect(await record("other", "j1", exp)).toBe(true);
  });

  it("refuses a client assertion spent again as a jwt-bearer assertion, and the other way round: one JWT, one use", async () => {
    const kv = await bucket();
    const clientAssertions = kvJtiRecorder(kv, "client_assertion");
    const grantAssertions = kvJtiRecorder(kv, "assertion");
    expect(await clientAssertions("c", "j1", exp)).toBe(true);
    expect(await grantAssertions("c", "j1", exp)).toBe(false);
    expect(await grantAssertions("c", "j2", exp)).toBe(true);
    expect(await clientAssertions("c", "j2", exp)).toBe(false);
  });

  it("keeps the dedicated issuer's unsigned assertions, spent in their admin's name, apart from what the admin signs", async () => {
    const kv = await bucket();
    expect(await kvJtiRecorder(kv, "client_assertion")("admin", "j1", exp)).toBe(true);
    expect(await kvJtiRecorder(kv, "dti")("admin", "j1", exp)).toBe(true);
    expect(await kvJtiRecorder(kv, "dti")("admin", "j1", exp)).toBe(false);
  });
});
