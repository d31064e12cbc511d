import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, startGrpcServer, unary } from "@sts/grpc";
import type { GrpcServerHandle } from "@sts/grpc";
import { loadTokenProto } from "@sts/proto";
import type { TokenServiceClient } from "@sts/proto";
import { createLogger } from "@sts/telemetry";
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
let issuer: GrpcServerHandle;
let client: TokenServiceClient;

beforeAll(async () => {
  const proto = loadTokenProto().sts.token.v1.TokenService;
  // A real gRPC server answering GetJwks as the issuer does.
  const GetJwks = unary(async () => ({ jwks_json: JSON.stringify(published) }));
  issuer = await startGrpcServer({
    port: 0,
    services: [{ definition: proto.service, implementation: { GetJwks } }],
    logger: createLogger("x", { level: "silent" }),
  });
  issuer.setServing(true);
  client = createClient(proto, issuer.address);
});

afterAll(async () => {
  client.close();
  await issuer.shutdown(0);
});

const idTokenAlgs = async (url: string): Promise<unknown> =>
  ((await (await fetch(`${url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>).id_token_signing_alg_values_supported;

describe("id_token_signing_alg_values_supported (OIDC Discovery §3: the algorithms used)", () => {
  it("names the algorithms of the keys the issuer publishes, not only the configured one", async () => {
    const gateway = await testGateway({ token: client, idTokenSigningAlgs: ["ES256"] });
    try {
      expect(await idTokenAlgs(gateway.url)).toEqual(["PS256", "ES256"]);
    } finally {
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
