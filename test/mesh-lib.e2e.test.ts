/**
 * libs/mesh in-process: a grpc-js server with the mesh server interceptor
 * (service B) called by a client with the mesh client interceptor (service
 * A), exchanging through the real stack; and the fetch wrapper.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Metadata, Server, ServerCredentials, credentials, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRemoteJWKSet } from "jose";
import { unavailable } from "@sts/errors";
import { ExchangeCache, MESH_METADATA, meshClientInterceptor, meshFetch, meshServerInterceptor } from "@sts/mesh";
import { VerifiedTokens } from "@sts/jwt";
import { loadExchangeProto, loadTokenProto } from "@sts/proto";
import type { TokenServiceClient } from "@sts/proto";
import { basicAuth, claimsOf, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET } from "./chain.js";

let stack: Stack;
let server: Server;
let serverPort: number;
let exchange: ExchangeCache;
const seenByB: Metadata[] = [];
/** Whether B's verifier finds its revocations too old to trust (as when cut off from NATS past the bounded staleness). */
let revocationsStale = false;

beforeAll(async () => {
  stack = await startStack(
    {
      policy: { hops: [{ from: "svc-a", to: "svc-b", scopes: ["b"] }] },
      clients: [
        { client_id: "app", client_secret: SECRET, scope: ["a", "b"], audience: ["svc-a"] },
        { client_id: "svc-a", client_secret: SECRET, grant_types: ["client_credentials", EXCHANGE_GRANT], audience: [] },
      ],
    },
    { services: ["issuer", "policy", "exchanger", "gateway"] },
  );
  // Service B: any gRPC service will do; the TokenService's GetJwks stands in for B's API.
  server = new Server({
    interceptors: [
      meshServerInterceptor({
        issuer: stack.gatewayUrl,
        audience: "svc-b",
        keys: createRemoteJWKSet(new URL(`${stack.gatewayUrl}/oauth2/jwks`)),
        revocations: {
          isRevoked: () => {
            if (revocationsStale) throw unavailable("revocation state is out of date (NATS unreachable)");
            return false;
          },
          subjectRevokedAt: () => undefined,
          isKeyWithdrawn: () => false,
        },
        verified: new VerifiedTokens(),
      }),
    ],
  });
  server.addService(loadTokenProto().sts.token.v1.TokenService.service, {
    GetJwks: (call: { metadata: Metadata }, cb: (e: null, v: { jwks_json: string }) => void) => {
      seenByB.push(call.metadata);
      cb(null, { jwks_json: JSON.stringify({ subject: call.metadata.get(MESH_METADATA.SUBJECT)[0], scope: call.metadata.get(MESH_METADATA.SCOPE)[0] }) });
    },
  });
  serverPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  const exchanger = new (loadExchangeProto().sts.exchange.v1.ExchangeService)(stack.address.exchanger, credentials.createInsecure());
  exchange = new ExchangeCache({ exchanger, authorization: basicAuth("svc-a", SECRET) });
}, 90_000);

afterAll(async () => {
  server?.forceShutdown();
  await stack?.stop();
});

const appToken = async (): Promise<string> =>
  (await postForm(`${stack.gatewayUrl}/oauth2/token`, { grant_type: "client_credentials", scope: "a b" }, { authorization: basicAuth("app", SECRET) })).body
    .access_token as string;

function callB(
  client: TokenServiceClient,
  token: string | undefined,
  extra: Record<string, string> = {},
): Promise<{ value?: { jwks_json: string }; error?: ServiceError }> {
  const md = new Metadata();
  if (token) md.set("authorization", `Bearer ${token}`);
  for (const [k, v] of Object.entries(extra)) md.set(k, v);
  return new Promise((resolve) => client.GetJwks({}, md, (error, value) => resolve(error ? { error } : { value: value as { jwks_json: string } })));
}

describe("mesh gRPC interceptors", () => {
  const clientOf = (interceptors: ReturnType<typeof meshClientInterceptor>[]) =>
    new (loadTokenProto().sts.token.v1.TokenService)(`127.0.0.1:${serverPort}`, credentials.createInsecure(), { interceptors });

  it("exchanges on the way out and verifies on the way in", async () => {
    const client = clientOf([meshClientInterceptor(exchange, { audience: "svc-b", scopes: ["b"] })]);
    const at1 = await appToken();
    const r = await callB(client, at1, { "x-mesh-subject": "forged" });
    expect(r.error).toBeUndefined();
    expect(JSON.parse(r.value?.jwks_json ?? "{}")).toEqual({ subject: "app", scope: "b" });
    const sent = String(seenByB.at(-1)?.get("authorization")[0]).slice(7);
    expect(sent).not.toBe(at1);
    expect(claimsOf(sent)).toMatchObject({ aud: "svc-b", scope: "b", act: { sub: "svc-a" } });
    client.close();
  });

  it("refuses at the server a call without a token, or with a token for another audience", async () => {
    const bare = clientOf([]);
    expect((await callB(bare, undefined)).error?.code).toBe(status.UNAUTHENTICATED);
    expect((await callB(bare, await appToken())).error?.code).toBe(status.UNAUTHENTICATED);
    bare.close();
  });

  it("answers UNAVAILABLE, not UNAUTHENTICATED, while it cannot vouch for any token (revocations too stale)", async () => {
    const client = clientOf([meshClientInterceptor(exchange, { audience: "svc-b", scopes: ["b"] })]);
    const before = seenByB.length;
    revocationsStale = true;
    try {
      const r = await callB(client, await appToken());
      expect(r.error?.code).toBe(status.UNAVAILABLE);
      expect(r.error?.metadata.get("oauth-error")).toEqual(["temporarily_unavailable"]);
      expect(r.error?.metadata.get("www-authenticate")).toEqual([]);
      expect(seenByB.length).toBe(before);
    } finally {
      revocationsStale = false;
      client.close();
    }
  });

  it("never sends a call out when there is no token to exchange", async () => {
    const client = clientOf([meshClientInterceptor(exchange, { audience: "svc-b", scopes: ["b"] })]);
    const before = seenByB.length;
    expect((await callB(client, undefined)).error?.code).toBe(status.UNAUTHENTICATED);
    expect(seenByB.length).toBe(before);
    client.close();
  });
});

describe("meshFetch", () => {
  it("sends the exchanged token, never the one it was given", async () => {
    let got = "";
    const http = createServer((req, res) => {
      got = req.headers.authorization ?? "";
      res.end("ok");
    });
    const port = await new Promise<number>((r) => http.listen(0, "127.0.0.1", () => r((http.address() as AddressInfo).port)));
    const at1 = await appToken();
    const f = meshFetch(exchange, { url: `http://127.0.0.1:${port}`, audience: "svc-b", scopes: ["b"] });
    expect((await f("/x", at1)).status).toBe(200);
    expect(got.slice(7)).not.toBe(at1);
    expect(claimsOf(got.slice(7))).toMatchObject({ aud: "svc-b", scope: "b" });
    http.close();
  });
});
