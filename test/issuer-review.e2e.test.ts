/**
 * Issuer review, end to end (real nats-server and issuer processes, one replica with its clock ahead):
 * RFC 7662 §2.2 introspection answers `active` only within the token's own time window, by the issuer's clock, for a
 * JWT as for an opaque token; the clock tolerance verifiers grant other clocks does not stretch it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IntrospectResponse__Output, TokenResponse__Output, TokenServiceClient } from "@sts/proto";
import { basicAuth, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { call, clients, tokenClient } from "./chain.js";

const CLIENT = "review-client";
const SECRET = "issuer-review-secret-000001";
/** Access tokens of CLIENT live this long (seconds). */
const TTL = 60;
/** The stack's clock tolerance, at its bound (5 minutes): large, so that the replica below reads the tokens as expired yet within it. */
const TOLERANCE = 300;
/** How far the replica's clock runs ahead: past every token's exp, well within exp plus the tolerance. */
const AHEAD = 150;

let stack: Stack;
let grpc: ReturnType<typeof clients>;
/** An issuer replica to which every token issued by the test has expired, though by less than the clock tolerance. */
let later: TokenServiceClient;

beforeAll(async () => {
  stack = await startStack(
    {
      tokens: { clock_tolerance: TOLERANCE },
      clients: [
        {
          client_id: CLIENT,
          client_secret: SECRET,
          scope: ["read"],
          audience: ["storage", "vault"],
          access_token_ttl: TTL,
          access_token_format: { vault: "opaque" },
        },
      ],
    },
    { services: ["issuer"] },
  );
  grpc = clients(stack.address);
  later = tokenClient((await stack.startReplica("issuer", { STS_CLOCK_OFFSET: String(AHEAD) })).address);
}, 90_000);

afterAll(async () => {
  later?.close();
  grpc?.close();
  await stack?.stop();
});

const auth = { authorization: basicAuth(CLIENT, SECRET) };

/** A client_credentials access token of CLIENT for `audience`, from the issuer whose clock is the real one. */
async function token(audience: string): Promise<string> {
  const r = await call<TokenResponse__Output>(grpc.token, "Token", { client: auth, grant_type: "client_credentials", scope: "read", audience: [audience] });
  if (!r.ok) throw new Error(`client_credentials: ${JSON.stringify(r.failure)}`);
  return r.value.access_token;
}

/** The RFC 7662 answer of `on` for `presented`, asked by the token's own client. */
async function introspect(on: TokenServiceClient, presented: string): Promise<IntrospectResponse__Output> {
  const r = await call<IntrospectResponse__Output>(on, "Introspect", { client: auth, token: presented });
  if (!r.ok) throw new Error(`Introspect: ${JSON.stringify(r.failure)}`);
  return r.value;
}

describe("introspection of an expired access token (RFC 7662 §2.2)", () => {
  it("answers a JWT past its exp, by the issuer's clock, inactive, as it answers an opaque token", async () => {
    const jwt = await token("storage");
    const opaque = await token("vault");
    expect(opaque).toMatch(/^sto_/);
    // Within its lifetime, both are active.
    expect(await introspect(grpc.token, jwt)).toMatchObject({ active: true, client_id: CLIENT });
    expect(await introspect(grpc.token, opaque)).toMatchObject({ active: true, client_id: CLIENT });
    // To the replica both expired AHEAD - TTL seconds ago, which the clock tolerance would still let a verifier accept.
    expect(await introspect(later, opaque)).toMatchObject({ active: false, client_id: "" });
    expect(await introspect(later, jwt)).toMatchObject({ active: false, client_id: "", sub: "", exp: "0" });
  });
});
