/**
 * The policy service, third review: what a config file's hops leave in force when the file drops them, and what a
 * what-if answers for a candidate it cannot weigh. Real nats-server, issuer and policy processes; the policy service
 * is restarted on an edited config file, as an operator rolls out a change.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@sts/testkit";
import { status } from "@grpc/grpc-js";
import { parse, stringify } from "yaml";
import type { Decision__Output, ListResponse__Output } from "@sts/proto";
import { startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { bearer, call, clients, ok, svcAQuestion } from "./chain.js";

const config = {
  tokens: { clock_tolerance: 0 },
  policy: {
    hops: [
      { from: "svc-a", to: "svc-b", scopes: ["b", "c"] },
      { from: "svc-a", to: "svc-c", scopes: ["b", "read:/data"] },
      { from: "svc-a", to: "svc-d", scopes: ["b"] },
    ],
  },
};

let stack: Stack;
let grpc: ReturnType<typeof clients>;

beforeAll(async () => {
  stack = await startStack(config, { services: ["issuer", "policy"] });
  grpc = clients(stack.address);
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
});

/** What the policy service decides: `allow [scopes]` or `deny`. */
async function decided(audience: string, scopes: string[]): Promise<string> {
  const d = ok(await call<Decision__Output>(grpc.policy, "Decide", svcAQuestion(audience, scopes)));
  return d.allow ? `allow [${d.allowed_scopes.join(" ")}]` : "deny";
}

/** The ids of the policies in force, as List shows them. */
async function listed(): Promise<string[]> {
  return ok(await call<ListResponse__Output>(grpc.policy, "List", {}, bearer(stack.secrets.policyAdmin))).policies.map((p) => p.id);
}

/** Runs `body` with the config file's hops replaced by `hops` and the policy service restarted on it; then puts the file back. */
async function withHops(hops: Array<Record<string, unknown>>, body: () => Promise<void>): Promise<void> {
  const original = readFileSync(stack.configFile, "utf8");
  const doc = parse(original) as { policy: { hops: unknown } };
  doc.policy.hops = hops;
  writeFileSync(stack.configFile, stringify(doc));
  try {
    await stack.processes.policy?.stop();
    await stack.start("policy");
    await body();
  } finally {
    writeFileSync(stack.configFile, original);
    await stack.processes.policy?.stop();
    await stack.start("policy");
  }
}

describe("a hop taken out of the config file", () => {
  it("is no longer permitted after the next start, nor are the scopes of a hop whose scopes were emptied; an operator's version stays; declared again by an older file, it stays retired until reset", async () => {
    expect(await decided("svc-b", ["b"])).toBe("allow [b]");
    expect(await decided("svc-c", ["b", "read:/data/x"])).toBe("allow [b read:/data/x]");
    // An operator takes over svc-d's exchange permit: the config file no longer manages it.
    const text = 'permit (principal == Client::"svc-a", action == Action::"exchange", resource == Audience::"svc-d");';
    const put = await call(
      grpc.policy,
      "Put",
      { policy: { id: "hop/svc-a/svc-d/exchange", text, description: "operator's" } },
      bearer(stack.secrets.policyAdmin),
    );
    expect(put.ok ? "stored" : put.failure.description).toBe("stored");

    // svc-b's hop and svc-d's hop leave the file; svc-c's hop keeps its exchange but loses every scope.
    await withHops([{ from: "svc-a", to: "svc-c", scopes: [] }], async () => {
      expect(await decided("svc-b", ["b"])).toBe("deny");
      expect(await decided("svc-c", ["b", "read:/data/x"])).toBe("allow []");
      // The operator's permit stands; the scopes the file gave svc-d went with the hop.
      expect(await decided("svc-d", ["b"])).toBe("allow []");
      expect(await listed()).toEqual(["hop/svc-a/svc-c/exchange", "hop/svc-a/svc-d/exchange"]);
    });

    // The file as it was (a replica started on the older file): what the newer file retired stays retired, on every
    // replica, until an operator hands it back.
    expect(await decided("svc-b", ["b"])).toBe("deny");
    expect(await decided("svc-c", ["b", "read:/data/x"])).toBe("allow []");
    for (const id of ["hop/svc-a/svc-b/exchange", "hop/svc-a/svc-b/scopes"]) {
      const reset = await call(grpc.policy, "Reset", { id }, bearer(stack.secrets.policyAdmin));
      expect([id, reset.ok ? "reset" : reset.failure.description]).toEqual([id, "reset"]);
    }
    await waitFor(async () => (await decided("svc-b", ["b"])) === "allow [b]", { timeoutMs: 10_000, message: "the reset hop never came back" });
  }, 90_000);
});

describe("a what-if with a candidate", () => {
  it("whose text is empty is refused (invalid_request), not answered from the set in force as though the candidate were weighed", async () => {
    // `stsctl policy check --candidate <id> --file F` with an empty F sends exactly this.
    const emptied = { request: svcAQuestion("svc-c", ["b"]), candidate: { id: "hop/svc-a/svc-c/exchange", text: "" } };
    const r = await call<Decision__Output>(grpc.policy, "Validate", emptied, bearer(stack.secrets.policyAdmin));
    expect(r.ok ? `answered allow=${r.value.allow}` : [r.failure.grpcCode, r.failure.error, r.failure.description]).toEqual([
      status.INVALID_ARGUMENT,
      "invalid_request",
      "invalid policy: the policy text is empty",
    ]);
    // Without a candidate, the set in force answers.
    expect(ok(await call<Decision__Output>(grpc.policy, "Validate", { request: svcAQuestion("svc-c", ["b"]) }, bearer(stack.secrets.policyAdmin))).allow).toBe(
      true,
    );
  });
});
