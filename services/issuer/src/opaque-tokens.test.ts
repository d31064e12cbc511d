/**
 * Opaque access tokens on a real nats-server: a store that cannot be reached
 * fails the request as temporarily_unavailable (503 + Retry-After at the
 * gateway, the client retries), never server_error, whether a token is made
 * or looked up. The fault is real: the store's connection is closed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccessTokenClaims } from "@sts/jwt";
import { connectNats, openBucket } from "@sts/nats";
import { startNats } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { OpaqueTokens } from "./opaque-tokens.js";

let server: NatsServerHandle;
const claims = { iss: "https://sts.test", sub: "alice", aud: "api", exp: 2_000_000_000, iat: 1_800_000_000, jti: "j1", client_id: "c" } as AccessTokenClaims;

beforeAll(async () => {
  server = await startNats();
}, 30_000);

afterAll(async () => {
  await server?.stop();
});

describe("OpaqueTokens", () => {
  it("answers temporarily_unavailable, not server_error, when its store cannot be read or written", async () => {
    const own = await connectNats({ servers: server.url, name: "opaque-tokens-closed" });
    const store = new OpaqueTokens(await openBucket(own, "opaque_test"));
    const token = await store.create(claims);
    expect(await store.resolve(token)).toEqual(claims);
    await own.close();
    await expect(store.resolve(token)).rejects.toMatchObject({ code: "temporarily_unavailable", status: 503 });
    await expect(store.create(claims)).rejects.toMatchObject({ code: "temporarily_unavailable", status: 503 });
  });
});
