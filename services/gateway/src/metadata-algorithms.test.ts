import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, startGrpcServer, unary } from "@sts/grpc";
import type { GrpcServerHandle } from "@sts/grpc";
import { loadTokenProto } from "@sts/proto";
import type { TokenServiceClient } from "@sts/proto";
import { createLogger } from "@sts/telemetry";
import { JWKS_EDGE_CACHE_SECONDS } from "@sts/keys";
import { testGateway } from "./gateway.fixture.js";
import { publishedAlgorithms } from "./server.js";

/** What the stand-in issuer publishes: a key file's PS256 key signing, the next key (ES256) pre-published. */
const published = {
  keys: [
    { kty: "RSA", kid: "file", alg: "PS256" },
    { kty: "EC", kid: "next", alg: "ES256" },
    { kty: "EC", kid: "old", alg: "ES256" },
  ],
};
/** A real gRPC server answering GetJwks as the issuer does, and a client of it. */
async function standInIssuer(): Promise<{ server: GrpcServerHandle; client: TokenServiceClient }> {
  const proto = loadTokenProto().sts.token.v1.TokenService;
  const GetJwks = unary(async () => ({ jwks_json: JSON.stringify(published) }));
  const server = await startGrpcServer({
    port: 0,
    services: [{ definition: proto.service, implementation: { GetJwks } }],
    logger: createLogger("x", { level: "silent" }),
  });
  server.setServing(true);
  return { server, client: createClient(proto, server.address) };
}

let issuer: Awaited<ReturnType<typeof standInIssuer>>;
beforeAll(async () => {
  issuer = await standInIssuer();
});

afterAll(async () => {
  issuer.client.close();
  await issuer.server.shutdown(0);
});

const idTokenAlgs = async (url: string): Promise<unknown> =>
  ((await (await fetch(`${url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>).id_token_signing_alg_values_supported;

describe("id_token_signing_alg_values_supported (OIDC Discovery §3: the algorithms used)", () => {
  it("names the algorithms of the keys the issuer publishes, not only the configured one", async () => {
    const gateway = await testGateway({ token: issuer.client, idTokenSigningAlgs: ["ES256"] });
    try {
      expect(await idTokenAlgs(gateway.url)).toEqual(["PS256", "ES256"]);
    } finally {
      await gateway.close();
    }
  });

  it("answers from the key set it last knew while the issuer cannot be reached, without waiting on it", async () => {
    const own = await standInIssuer();
    // A deadline far longer than the test waits: discovery must not wait on the call.
    const gateway = await testGateway({ token: own.client, idTokenSigningAlgs: ["ES256"], deadlineMs: 60_000 });
    try {
      expect(await idTokenAlgs(gateway.url)).toEqual(["PS256", "ES256"]);
      await own.server.shutdown(0);
      // Past the gateway's key-set cache, so that the next request asks the issuer again.
      await new Promise((r) => setTimeout(r, (JWKS_EDGE_CACHE_SECONDS + 0.5) * 1000));
      expect(await idTokenAlgs(gateway.url)).toEqual(["PS256", "ES256"]);
    } finally {
      own.client.close();
      await gateway.close();
    }
  });

  it("falls back to the configured algorithm while the issuer cannot say", async () => {
    const gateway = await testGateway({ idTokenSigningAlgs: ["EdDSA"], deadlineMs: 300 });
    try {
      expect(await idTokenAlgs(gateway.url)).toEqual(["EdDSA"]);
    } finally {
      await gateway.close();
    }
  });

  it("reads only well-formed key sets", () => {
    expect(publishedAlgorithms('{"keys":[{"alg":"RS256"},{"kty":"EC"},null,{"alg":""},{"alg":7},{"alg":"RS256"}]}')).toEqual(["RS256"]);
    for (const bad of ["", "[]", '{"keys":{}}', "not json"]) expect(publishedAlgorithms(bad)).toEqual([]);
  });
});
