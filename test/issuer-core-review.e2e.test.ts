/**
 * Issuer core review, end to end (real nats-server and issuer process): only the issuer signs, so Mint does not sign,
 * nor record in token.exchanged, a delegation record no exchange makes (an `act` chain cut short, led by a client other
 * than the token's, deeper than exchange.max_depth; a lineage parent other than the token exchanged; a `sub` with
 * control characters), and RevokeSubject stores no revocation, and no event, for a subject no token can name.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MintResponse__Output, RevokeSubjectResponse__Output, TokenResponse__Output } from "@sts/proto";
import { basicAuth, claimsOf, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, bearer, call, clients, mintAsExchanger } from "./chain.js";
import type { CallResult } from "./chain.js";

let stack: Stack;
let grpc: ReturnType<typeof clients>;

beforeAll(async () => {
  stack = await startStack(
    {
      exchange: { max_depth: 2 },
      clients: [
        ...["svc-a", "svc-b", "svc-c"].map((client_id) => ({ client_id, client_secret: SECRET, scope: ["a"], audience: ["svc-d"] })),
        { client_id: "ops", client_secret: SECRET, scope: ["subjects:revoke"], audience: ["sts-issuer-admin"] },
      ],
    },
    { services: ["issuer"] },
  );
  grpc = clients(stack.address);
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
});

/** Mint as the exchanger (the one internal client): svc-c's token for svc-d, with `over` changed. */
const mint = (over: Record<string, unknown>): Promise<CallResult<MintResponse__Output>> =>
  mintAsExchanger(grpc.token, stack.secrets.exchanger, { sub: "alice", client_id: "svc-c", audience: ["svc-d"], ...over });

/** The OAuth error and description of a refused call, or "accepted". */
const refusal = (r: CallResult<unknown>): string | [string | undefined, string] => (r.ok ? "accepted" : [r.failure.error, r.failure.description]);

/** The stored events of `type`. */
const eventsOf = async (type: string) => (await storedEvents(stack.nats.url)).filter((e) => e.type === type);

describe("Mint re-checks the delegation record the exchanger computed", () => {
  it("refuses an act chain no exchange makes (RFC 8693 §4.1: cut short, led by another client, too deep), minting and recording nothing", async () => {
    const before = (await eventsOf("token.exchanged")).length;
    const malformed = ["invalid_request", "malformed act chain: every actor must be a client id of at most 256 characters"];
    // An empty actor in the middle: read before as the end of the chain, svc-a silently left out of the token.
    expect(refusal(await mint({ act: { sub: "svc-c", act: { sub: "", act: { sub: "svc-a" } } } }))).toEqual(malformed);
    // The current actor is the client the token is issued to: anyone else there would be acting in its name.
    expect(refusal(await mint({ act: { sub: "svc-a", act: { sub: "svc-b" } } }))).toEqual([
      "invalid_request",
      "act must name the client the token is issued to as its current actor (RFC 8693 section 4.1)",
    ]);
    expect(refusal(await mint({ act: { sub: "svc-c", act: { sub: "svc-b", act: { sub: "svc-a" } } } }))).toEqual([
      "invalid_request",
      "act chain deeper than 2 (exchange.max_depth)",
    ]);
    expect((await eventsOf("token.exchanged")).length).toBe(before);

    // The chain an exchange makes: svc-c acting now, for svc-b before it.
    const minted = await mint({ act: { sub: "svc-c", act: { sub: "svc-b" } } });
    if (!minted.ok) throw new Error(`Mint: ${minted.failure.description}`);
    expect(claimsOf(minted.value.access_token).act).toEqual({ sub: "svc-c", act: { sub: "svc-b" } });
    const recorded = (await eventsOf("token.exchanged")).find((e) => e.data.jti === minted.value.jti);
    expect(recorded?.data.actors).toEqual(["svc-c", "svc-b"]);
  });

  it("records as the lineage parent only the token exchanged (the lineage's first jti), minting nothing for another", async () => {
    const before = (await eventsOf("token.exchanged")).length;
    const lineage = ["j-subject", "j-grandparent"];
    for (const parent_jti of ["j-unrelated", "j-grandparent", `${stack.gatewayUrl}#j-subject`]) {
      expect(refusal(await mint({ lineage, parent_jti }))).toEqual([
        "invalid_request",
        "parent_jti must name the token exchanged: the first jti of the lineage, or <subject_issuer>#<jti> for a trusted issuer's token",
      ]);
    }
    expect((await eventsOf("token.exchanged")).length).toBe(before);

    const minted = await mint({ lineage, parent_jti: "j-subject" });
    if (!minted.ok) throw new Error(`Mint: ${minted.failure.description}`);
    const recorded = (await eventsOf("token.exchanged")).find((e) => e.data.jti === minted.value.jti);
    expect(recorded?.data.parent_jti).toBe("j-subject");
  });

  it("refuses a sub holding a control character, which no grant issues and no auditor's terminal shows as written", async () => {
    const before = (await eventsOf("token.exchanged")).length;
    expect(refusal(await mint({ sub: "alice\u001b]0;bob\u0007" }))).toEqual(["invalid_request", "sub holds a control character or broken UTF-16"]);
    expect((await eventsOf("token.exchanged")).length).toBe(before);
  });
});

describe("RevokeSubject", () => {
  it("refuses a sub holding a control character, storing no revocation and no subject.revoked event", async () => {
    const issued = await call<TokenResponse__Output>(grpc.token, "Token", {
      client: { authorization: basicAuth("ops", SECRET) },
      grant_type: "client_credentials",
      scope: "subjects:revoke",
      audience: ["sts-issuer-admin"],
    });
    if (!issued.ok) throw new Error(`operator token: ${issued.failure.description}`);
    const operator = bearer(issued.value.access_token);
    const revoke = (sub: string) => call<RevokeSubjectResponse__Output>(grpc.token, "RevokeSubject", { iss: stack.gatewayUrl, sub, reason: "" }, operator);

    expect(refusal(await revoke("mallory\n2030-01-01 subject.revoked alice"))).toEqual(["invalid_request", "sub holds a control character"]);
    expect(refusal(await revoke("mallory\u001b[2J"))).toEqual(["invalid_request", "sub holds a control character"]);
    expect(await eventsOf("subject.revoked")).toEqual([]);

    expect((await revoke("mallory")).ok).toBe(true);
    expect((await eventsOf("subject.revoked")).map((e) => e.data.sub)).toEqual(["mallory"]);
  });
});
