/**
 * Review of libs/telemetry and libs/mesh against the real stack: what a gRPC
 * caller's trace headers may carry on into the stack's own calls and into the
 * durable events stream, and the challenge of the mesh server interceptor.
 */
import { randomBytes } from "node:crypto";
import { Metadata, Server, ServerCredentials, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { createRemoteJWKSet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { meshServerInterceptor } from "@sts/mesh";
import { EVENTS_STREAM, connectNats } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { loadTokenProto } from "@sts/proto";
import { claimsOf, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { call, chainConfig, chainStartToken, clients, exchangeRequest, tokenClient } from "./chain.js";

let stack: Stack;
let grpc: ReturnType<typeof clients>;
let nats: NatsHandle;
/** Service B in-process: a grpc-js server behind the mesh server interceptor (GetJwks stands in for its API). */
let serviceB: Server;
let serviceBAddress: string;

beforeAll(async () => {
  stack = await startStack(chainConfig, { services: ["issuer", "policy", "exchanger", "gateway"] });
  grpc = clients(stack.address);
  nats = await connectNats({ servers: stack.nats.url, name: "mesh-review" });
  serviceB = new Server({
    interceptors: [
      meshServerInterceptor({
        issuer: stack.gatewayUrl,
        audience: "svc-b",
        keys: createRemoteJWKSet(new URL(`${stack.gatewayUrl}/oauth2/jwks`)),
        revocations: { isRevoked: () => false, subjectRevokedAt: () => undefined, isKeyWithdrawn: () => false },
      }),
    ],
  });
  serviceB.addService(loadTokenProto().sts.token.v1.TokenService.service, {
    GetJwks: (_call: unknown, cb: (e: null, v: { jwks_json: string }) => void) => cb(null, { jwks_json: "{}" }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    serviceB.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  serviceBAddress = `127.0.0.1:${port}`;
}, 90_000);

afterAll(async () => {
  serviceB?.forceShutdown();
  grpc?.close();
  await nats?.close();
  await stack?.stop();
});

describe("trace context from a gRPC caller", () => {
  it("keeps the caller's trace id but never carries its W3C baggage into the token.exchanged event's headers", async () => {
    const traceId = randomBytes(16).toString("hex");
    const metadata = new Metadata();
    metadata.set("traceparent", `00-${traceId}-${randomBytes(8).toString("hex")}-01`);
    // Anything a caller likes, up to 8 KiB per call: W3C baggage is not validated against anything.
    metadata.set("baggage", `smuggled=${"x".repeat(2000)},user.role=admin`);
    const r = await call<{ access_token: string }>(
      grpc.exchange,
      "Exchange",
      exchangeRequest("svc-a", await chainStartToken(stack.gatewayUrl), { audience: ["svc-b"], scope: "b" }),
      metadata,
    );
    if (!r.ok) throw new Error(`exchange refused: ${JSON.stringify(r.failure)}`);
    const stored = await nats.jsm.streams.getMessage(EVENTS_STREAM.name, { last_by_subj: "sts.events.token.exchanged" });
    expect(stored?.json<{ subject: string }>().subject).toBe(claimsOf(r.value.access_token).jti);
    // The trace still joins (the stack's services call each other with it) ...
    expect(stored?.header.get("traceparent")).toContain(`-${traceId}-`);
    // ... but the caller's baggage is not written next to the audit trail, nor passed to the issuer and the policy service.
    expect(stored?.header.keys().map((k) => k.toLowerCase())).not.toContain("baggage");
  });
});

describe("meshServerInterceptor's challenge (RFC 6750 §3.1)", () => {
  /** The refusal of one call to service B with this `authorization` metadata (none when undefined). */
  async function refusal(authorization?: string): Promise<ServiceError> {
    const client = tokenClient(serviceBAddress);
    const md = new Metadata();
    if (authorization !== undefined) md.set("authorization", authorization);
    try {
      return await new Promise<ServiceError>((resolve, reject) =>
        client.GetJwks({}, md, (err: ServiceError | null) => (err ? resolve(err) : reject(new Error("the call was let in")))),
      );
    } finally {
      client.close();
    }
  }

  it.each([
    ["no credential at all", undefined],
    ["a credential of another scheme", "Basic c3ZjLWE6c2VjcmV0"],
  ])("names no error code in the challenge of a call with %s (the caller may not have known one was needed)", async (_what, authorization) => {
    const err = await refusal(authorization);
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(err.metadata.get("www-authenticate")).toEqual(['Bearer realm="mesh"']);
  });

  it.each([
    ["a malformed bearer credential", "Bearer not a token"],
    ["a token that does not verify", "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"],
  ])('answers %s with error="invalid_token"', async (_what, authorization) => {
    const err = await refusal(authorization);
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(err.metadata.get("www-authenticate")).toEqual(['Bearer error="invalid_token"']);
    expect(err.metadata.get("oauth-error")).toEqual(["invalid_token"]);
  });

  it('answers a good token for another audience with error="invalid_token"', async () => {
    const err = await refusal(`Bearer ${await chainStartToken(stack.gatewayUrl)}`);
    expect(err.metadata.get("www-authenticate")).toEqual(['Bearer error="invalid_token"']);
  });
});
