/**
 * The policy service against inputs that reach cedar-wasm: policy texts nesting deeply (sent by an operator who may
 * only read policies, through the what-if Validate), a config hop listing hundreds of structured scopes, and scopes
 * spelled otherwise than their canonical form. cedar-wasm recurses on the V8 stack; an overflow there leaves the
 * module corrupt, and the replica then denies every exchange until restarted while still reporting SERVING. Real
 * nats-server, issuer, gateway and policy processes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import type { Decision__Output } from "@sts/proto";
import { clientCredentialsToken, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, bearer, call, clients, svcAQuestion } from "./chain.js";

const config = {
  tokens: { clock_tolerance: 0 },
  policy: { hops: [{ from: "svc-a", to: "svc-b", scopes: ["b", "read:/data"] }] },
  clients: [
    { client_id: "ops-reader", client_secret: SECRET, scope: ["policy:read"], audience: ["sts-policy"] },
    { client_id: "ops-writer", client_secret: SECRET, scope: ["policy:read", "policy:write"], audience: ["sts-policy"] },
  ],
};

let stack: Stack;
let grpc: ReturnType<typeof clients>;

beforeAll(async () => {
  stack = await startStack(config, { services: ["issuer", "gateway", "policy"] });
  grpc = clients(stack.address);
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
});

async function decide(audience: string, scopes: string[], policy = grpc.policy): Promise<Decision__Output> {
  const r = await call<Decision__Output>(policy, "Decide", svcAQuestion(audience, scopes));
  if (!r.ok) throw new Error(`Decide failed: ${r.failure.description}`);
  return r.value;
}

const deepPolicy = (levels: number): string => `permit (principal, action, resource) when { ${"(".repeat(levels)}true${")".repeat(levels)} };`;

describe("scopes on the wire", () => {
  it("Decide refuses a requested scope that is not one canonical scope token, which the hop's `like` pattern would match", async () => {
    for (const scope of ["read:/data/../etc", "read:/data/x read:/", "read:/data/"]) {
      const d = await decide("svc-b", [scope]);
      expect(d, scope).toMatchObject({
        allow: false,
        allowed_scopes: [],
        reason: "malformed decision request: an entry of requested_scopes is not a canonical scope token",
      });
    }
  });
});

describe("policy texts cedar-wasm cannot take", () => {
  it("a config hop with 300 structured scopes is enforced, and the replica keeps deciding (one chain of || overflowed cedar-wasm)", async () => {
    // A stack of its own: this hop's policy broke every decision of the replicas that loaded it.
    const scopes = Array.from({ length: 300 }, (_, i) => `read:/big/s${i}`);
    const hops = [...config.policy.hops, { from: "svc-a", to: "svc-big", scopes, default_scopes: [] }];
    const big = await startStack({ ...config, policy: { hops } }, { services: ["issuer", "policy"] });
    const own = clients(big.address);
    try {
      for (let round = 0; round < 2; round++) {
        const d = await decide("svc-big", ["read:/big/s1/run7", "read:/big/s299", "read:/big/s300"], own.policy);
        expect(d).toMatchObject({ allow: true, allowed_scopes: ["read:/big/s1/run7", "read:/big/s299"], errors: [] });
      }
      expect(await decide("svc-b", ["read:/data/x"], own.policy)).toMatchObject({ allow: true, allowed_scopes: ["read:/data/x"], errors: [] });
    } finally {
      own.close();
      await big.stop();
    }
  }, 60_000);

  it("a read-only operator's what-if with a deeply nested policy is invalid_request, and every later decision still works", async () => {
    expect(await decide("svc-b", ["read:/data/x", "b"])).toMatchObject({ allow: true, allowed_scopes: ["read:/data/x", "b"], errors: [] });
    const reader = await clientCredentialsToken(stack, "ops-reader", SECRET, { audience: "sts-policy", scope: "policy:read" });
    const whatIf = await call(
      grpc.policy,
      "Validate",
      { request: svcAQuestion("svc-b", ["b"]), candidate: { id: "deep", text: deepPolicy(300) } },
      bearer(reader),
    );
    expect(whatIf.ok ? "answered" : [whatIf.failure.grpcCode, whatIf.failure.error]).toEqual([status.INVALID_ARGUMENT, "invalid_request"]);

    const writer = await clientCredentialsToken(stack, "ops-writer", SECRET, { audience: "sts-policy", scope: "policy:write" });
    const put = await call(grpc.policy, "Put", { policy: { id: "deep", text: deepPolicy(300), description: "" } }, bearer(writer));
    expect(put.ok ? "stored" : put.failure.error).toBe("invalid_request");

    // The replica that answered both still decides, from the same set, with no evaluation error.
    expect(await decide("svc-b", ["read:/data/x", "b"])).toMatchObject({ allow: true, allowed_scopes: ["read:/data/x", "b"], errors: [] });
    // Refused for what it is, before cedar-wasm was handed it.
    expect(!whatIf.ok && whatIf.failure.description).toMatch(/^invalid policy: the policy nests too deeply/);
  });
});

describe("policy size", () => {
  it("a config hop whose stored records pass 64 KiB (2,000 plain scopes: its texts fit, with descriptions and JSON they do not) is seeded and enforced", async () => {
    // A stack of its own: the policies bucket refused the hop's records, and the policy service never started.
    const scopes = Array.from({ length: 2000 }, (_, i) => `scope.number.${String(i).padStart(5, "0")}`);
    const hops = [{ from: "svc-a", to: "svc-wide", scopes }];
    const wide = await startStack({ ...config, policy: { hops } }, { services: ["issuer", "policy"] }).catch((err: unknown) => err as Error);
    if (wide instanceof Error) throw new Error(`the stack did not start: ${wide.message}`);
    const own = clients(wide.address);
    try {
      const d = await decide("svc-wide", ["scope.number.01999", "scope.number.02000"], own.policy);
      expect(d).toMatchObject({ allow: true, allowed_scopes: ["scope.number.01999"], errors: [] });
    } finally {
      own.close();
      await wide.stop();
    }
  }, 60_000);

  it("Put takes a policy text of the full 64 KiB a policy may have, as a config hop's may be, rather than refusing the message (RESOURCE_EXHAUSTED)", async () => {
    const statement = 'forbid (principal == Client::"svc-z", action, resource);\n// ';
    const text = statement + "x".repeat(64 * 1024 - Buffer.byteLength(statement));
    expect(Buffer.byteLength(text)).toBe(64 * 1024);
    const writer = await clientCredentialsToken(stack, "ops-writer", SECRET, { audience: "sts-policy", scope: "policy:write" });
    const description = "Freeze svc-z while it is investigated";
    const put = await call<{ revision: string }>(grpc.policy, "Put", { policy: { id: "ops/full-size", text, description } }, bearer(writer));
    expect(put.ok ? "stored" : [put.failure.grpcCode, put.failure.description]).toBe("stored");
    const got = await call<{ text: string }>(grpc.policy, "Get", { id: "ops/full-size" }, bearer(writer));
    expect(got.ok && got.value.text === text).toBe(true);
    // One byte more is refused for what it is.
    const over = await call(grpc.policy, "Put", { policy: { id: "ops/full-size", text: `${text}x`, description } }, bearer(writer));
    expect(over.ok ? "stored" : [over.failure.grpcCode, over.failure.error]).toEqual([status.INVALID_ARGUMENT, "invalid_request"]);
  });
});
