/**
 * Replacing the issuer's master key (STS_MASTER_KEY_PREVIOUS): replicas given the new key and the old one seal the
 * ring's keys again under the new key, after which replicas on the new key alone start and sign with the same keys.
 * Real nats-server and issuer processes.
 */
import { randomBytes } from "node:crypto";
import { credentials, Metadata } from "@grpc/grpc-js";
import { createLocalJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadTokenProto } from "@sts/proto";
import { basicAuth, startStack } from "./harness.js";
import type { Stack } from "./harness.js";

const SECRET = "app-secret-0123456789";
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ clients: [{ client_id: "app", client_secret: SECRET, scope: ["a"], audience: ["svc"] }] }, { services: ["issuer"] });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/** A client_credentials token from the issuer at `address`, over gRPC, and the JWKS it publishes. */
async function tokenAndJwks(address: string): Promise<{ token: string; jwks: { keys: Array<{ kid: string }> } }> {
  const client = new (loadTokenProto().sts.token.v1.TokenService)(address, credentials.createInsecure());
  const call = <T>(method: "Token" | "GetJwks", request: object): Promise<T> =>
    new Promise((resolve, reject) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the loaded service's methods are untyped here
      (client as any)[method](request, new Metadata(), (err: Error | null, value: T) => (err ? reject(err) : resolve(value)));
    });
  try {
    const { access_token } = await call<{ access_token: string }>("Token", {
      grant_type: "client_credentials",
      scope: "a",
      audience: ["svc"],
      client: { authorization: basicAuth("app", SECRET) },
    });
    const { jwks_json } = await call<{ jwks_json: string }>("GetJwks", {});
    return { token: access_token, jwks: JSON.parse(jwks_json) as { keys: Array<{ kid: string }> } };
  } finally {
    client.close();
  }
}

/** What starting a replica with `env` threw, or undefined (the replica is stopped again once started). */
async function replicaRefusal(env: Record<string, string>): Promise<unknown> {
  return stack.startReplica("issuer", env).then(
    async ({ handle }) => {
      await handle.stop();
      return undefined;
    },
    (err: unknown) => err,
  );
}

describe("replacing the master key", () => {
  it("goes through replicas holding the new key and the old one; then the new key alone opens and signs with the same keys", async () => {
    const oldKey = stack.env.STS_MASTER_KEY as string;
    const newKey = randomBytes(32).toString("base64url");
    const before = await tokenAndJwks(stack.address.issuer);

    // The new key alone cannot open the ring yet.
    expect(String(await replicaRefusal({ STS_MASTER_KEY: newKey }))).toMatch(/the master key does not open signing key/);

    // A replica with both seals the ring's keys again under the new key.
    const both = await stack.startReplica("issuer", { STS_MASTER_KEY: newKey, STS_MASTER_KEY_PREVIOUS: oldKey });
    await both.handle.stop();

    // Now the new key alone starts, signs with a key the ring already published, and the earlier token still verifies.
    const { handle, address } = await stack.startReplica("issuer", { STS_MASTER_KEY: newKey });
    try {
      const after = await tokenAndJwks(address);
      const jwks = createLocalJWKSet(after.jwks);
      const [signedBefore, signedAfter] = await Promise.all([jwtVerify(before.token, jwks), jwtVerify(after.token, jwks)]);
      expect(signedAfter.protectedHeader.kid).toBe(signedBefore.protectedHeader.kid);
      expect(after.jwks.keys.map((k) => k.kid)).toEqual(before.jwks.keys.map((k) => k.kid));
    } finally {
      await handle.stop();
    }
    // The old key alone no longer opens the ring: it has been replaced, not added to.
    expect(String(await replicaRefusal({ STS_MASTER_KEY: oldKey }))).toMatch(/the master key does not open signing key/);
  });

  it("refuses STS_MASTER_KEY_PREVIOUS that does not parse, naming the variable and never quoting it", async () => {
    const bad = "not-a-key";
    const err = String(await replicaRefusal({ STS_MASTER_KEY_PREVIOUS: bad }));
    expect(err).toContain("STS_MASTER_KEY_PREVIOUS: master key must be");
    expect(err).not.toContain(bad);
  });
});
