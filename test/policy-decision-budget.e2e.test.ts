/**
 * Decide's work budget, over the wire: a question within what an exchanger can send (MAX_DECISION_*, libs/scopes) is
 * decided, one past a bound is the malformed-request deny naming it, not a gRPC error, and never a question that holds
 * the replica's event loop. The bounds sit below the 76 KiB gRPC message limit, so the policy service, not the
 * transport, is what refuses. Real nats-server, issuer and policy processes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Decision__Output } from "@sts/proto";
import { MAX_DECISION_CHARS, MAX_DECISION_REQUESTED_SCOPES } from "@sts/scopes";
import { startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { call, clients, svcAQuestion } from "./chain.js";

let stack: Stack;
let grpc: ReturnType<typeof clients>;

beforeAll(async () => {
  stack = await startStack({ policy: { hops: [{ from: "svc-a", to: "svc-b", scopes: ["b", "read:/data"] }] } }, { services: ["issuer", "policy"] });
  grpc = clients(stack.address);
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
});

type Question = ReturnType<typeof svcAQuestion> & { subject: Record<string, unknown> };

/** svc-a asking for svc-b with `scopes`, the subject token holding read:/data and `audiences` besides svc-a. */
function question(scopes: string[], audiences: string[] = []): Question {
  const q = svcAQuestion("svc-b", scopes) as Question;
  return { ...q, subject: { ...q.subject, scopes: ["b", "read:/data"], audience: ["svc-a", ...audiences] } };
}

async function decide(q: Question): Promise<Decision__Output> {
  const r = await call<Decision__Output>(grpc.policy, "Decide", q);
  if (!r.ok) throw new Error(`Decide failed: ${r.failure.error} ${r.failure.description}`);
  return r.value;
}

/** Characters of the question's strings, as the policy service counts them. */
function chars(q: Question): number {
  const s = q.subject as { sub: string; client_id: string; iss: string; scopes: string[]; audience: string[] };
  const strings = [
    q.client_id,
    q.audience,
    s.sub,
    s.client_id,
    s.iss,
    ...(q.requested_scopes as string[]),
    ...(q.actors as string[]),
    ...s.scopes,
    ...s.audience,
  ];
  return strings.join("").length;
}

describe("Decide's budget over the wire", () => {
  it(`decides ${MAX_DECISION_REQUESTED_SCOPES} requested scopes (the most the meet of two scope lists holds); one more is a malformed request`, async () => {
    const scopes = Array.from({ length: MAX_DECISION_REQUESTED_SCOPES + 1 }, (_, i) => `read:/data/s${i}`);
    const at = await decide(question(scopes.slice(0, -1)));
    expect(at).toMatchObject({ allow: true, allowed_scopes: scopes.slice(0, -1), errors: [] });
    expect(await decide(question(scopes))).toMatchObject({
      allow: false,
      allowed_scopes: [],
      reason: `malformed decision request: requested_scopes has more than ${MAX_DECISION_REQUESTED_SCOPES} entries`,
    });
  });

  it(`decides a question of ${MAX_DECISION_CHARS} characters, each scope on its own; one character more is a malformed request`, async () => {
    const base = question(["b", "read:/data/x", "c"]);
    const room = MAX_DECISION_CHARS - chars(base);
    const audiences = [...Array.from({ length: Math.floor(room / 1000) }, (_, i) => `aud-${i}-`.padEnd(1000, "x")), "z".repeat(room % 1000)];
    const at = question(["b", "read:/data/x", "c"], audiences);
    expect(chars(at)).toBe(MAX_DECISION_CHARS);
    expect(await decide(at)).toMatchObject({ allow: true, allowed_scopes: ["b", "read:/data/x"], errors: [] });
    const over = question(["b", "read:/data/x", "c"], [...audiences, "y"]);
    expect(await decide(over)).toMatchObject({
      allow: false,
      allowed_scopes: [],
      reason: `malformed decision request: its strings sum to more than ${MAX_DECISION_CHARS} characters`,
    });
  });
});
