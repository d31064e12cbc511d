/**
 * Exchange rules found wanting in review, each against the real stack: a
 * `resource` that is no absolute URI (RFC 8707 §2), an actor token past its
 * exp inside the clock tolerance (nothing may be made from it), and the
 * issuer refusing the exchanger's own credentials (our fault, never the
 * caller's).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_TYPES } from "@sts/nats";
import { claimsOf, clientCredentialsToken, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT, chainConfig, chainStartToken, clients, exchange } from "./chain.js";

/** A resource server named by an absolute URI, as RFC 8707 wants it. */
const API = "https://api.example/data";
/** The same with a fragment: a hop to it exists, so only the resource rule can refuse it. */
const API_FRAGMENT = `${API}#admin`;

const config = {
  ...chainConfig,
  // Verification lets a token through for 30 s past its exp.
  tokens: { clock_tolerance: 30 },
  policy: {
    hops: [
      ...chainConfig.policy.hops,
      { from: "svc-a", to: API, scopes: ["b"] },
      { from: "svc-a", to: API_FRAGMENT, scopes: ["b"] },
      { from: "svc-s", to: "svc-b", scopes: ["b"] },
    ],
  },
  clients: [
    ...chainConfig.clients,
    { client_id: "review-app", client_secret: SECRET, scope: ["b"], audience: ["svc-s"] },
    // Its own tokens (actor tokens) live 5 s.
    { client_id: "svc-s", client_secret: SECRET, grant_types: ["client_credentials", EXCHANGE_GRANT], scope: [], audience: ["svc-b"], access_token_ttl: 5 },
  ],
};

let stack: Stack;
let grpc: ReturnType<typeof clients>;

beforeAll(async () => {
  stack = await startStack(config);
  grpc = clients(stack.address);
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
});

const eventsOf = async (type: string, clientId: string): Promise<number> =>
  (await storedEvents(stack.nats.url)).filter((e) => e.type === type && e.data.client_id === clientId).length;

/** A replica of the exchanger started with this environment, closed after `use`. */
async function withReplica(env: Record<string, string>, use: (c: ReturnType<typeof clients>) => Promise<void>): Promise<void> {
  const replica = await stack.startReplica("exchanger", env);
  const c = clients({ ...stack.address, exchanger: replica.address });
  try {
    await use(c);
  } finally {
    c.close();
    await replica.handle.stop();
  }
}

describe("resource indicators (RFC 8707 section 2, RFC 8693 section 2.1)", () => {
  it("refuses a resource that is not an absolute URI, or has a fragment, with invalid_target, and issues nothing", async () => {
    const subject = await chainStartToken(stack.gatewayUrl);
    const before = await eventsOf(EVENT_TYPES.TOKEN_EXCHANGED, "svc-a");
    for (const resource of ["svc-b", API_FRAGMENT]) {
      const r = await exchange(grpc.exchange, "svc-a", subject, { resource: [resource], scope: "b" });
      expect([resource, r.ok ? "issued" : r.failure.error]).toEqual([resource, "invalid_target"]);
    }
    expect(await eventsOf(EVENT_TYPES.TOKEN_EXCHANGED, "svc-a")).toBe(before);

    const ok = await exchange(grpc.exchange, "svc-a", subject, { resource: [API], scope: "b" });
    if (!ok.ok) throw new Error(`exchange for ${API} refused: ${ok.failure.error} ${ok.failure.description}`);
    expect(claimsOf(ok.value.access_token).aud).toBe(API);
  });
});

describe("an actor token past its exp, inside the clock tolerance", () => {
  it("is refused as a bad actor_token (invalid_request): nothing is made from it", async () => {
    const subject = await clientCredentialsToken(stack, "review-app", SECRET, { scope: "b" });
    const actorToken = await clientCredentialsToken(stack, "svc-s", SECRET, {});
    const request = { audience: ["svc-b"], scope: "b", actor_token: actorToken, actor_token_type: TOKEN_TYPE_AT };
    // While it lives, the actor token is accepted: the request itself is good.
    const fresh = await exchange(grpc.exchange, "svc-s", subject, request);
    if (!fresh.ok) throw new Error(`exchange with a live actor token refused: ${fresh.failure.error} ${fresh.failure.description}`);

    // A replica whose clock runs 10 s ahead sees the 5 s actor token expired, yet inside the 30 s tolerance.
    await withReplica({ STS_CLOCK_OFFSET: "10" }, async (replica) => {
      const before = await eventsOf(EVENT_TYPES.TOKEN_EXCHANGED, "svc-s");
      const r = await exchange(replica.exchange, "svc-s", subject, request);
      expect(r.ok ? { error: "issued", expires_in: r.value.expires_in } : { error: r.failure.error, description: r.failure.description }).toEqual({
        error: "invalid_request",
        description: "actor_token rejected: token expired",
      });
      expect(await eventsOf(EVENT_TYPES.TOKEN_EXCHANGED, "svc-s")).toBe(before);
    });
  }, 60_000);
});

describe("the issuer refusing the exchanger's own credentials", () => {
  it("is a server_error, not invalid_client for a caller whose credentials are good, and is not recorded as a denial of it", async () => {
    const subject = await chainStartToken(stack.gatewayUrl);
    await withReplica({ STS_EXCHANGER_CLIENT_SECRET: "not-the-exchanger-secret-0000" }, async (replica) => {
      const denials = await eventsOf(EVENT_TYPES.EXCHANGE_DENIED, "svc-a");
      const r = await exchange(replica.exchange, "svc-a", subject, { audience: ["svc-b"], scope: "b" });
      expect(r.ok ? "issued" : r.failure.error).toBe("server_error");
      expect(await eventsOf(EVENT_TYPES.EXCHANGE_DENIED, "svc-a")).toBe(denials);
    });
  }, 60_000);
});
