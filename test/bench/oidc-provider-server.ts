/**
 * The comparison point: node-oidc-provider serving client_credentials with
 * ES256-signed JWT access tokens (resource indicators), in its own process
 * like our gateway. Prints its URL once listening.
 */
import { exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";

const port = Number(process.argv[2] ?? 0);
const secret = process.argv[3] ?? "bench-secret-000000000001";
const { privateKey } = await generateKeyPair("ES256", { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), alg: "ES256", use: "sig", kid: "bench" };
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "bench",
      client_secret: secret,
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: "client_secret_basic",
      scope: "read write",
      id_token_signed_response_alg: "ES256",
    },
  ],
  jwks: { keys: [jwk] },
  scopes: ["read", "write"],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => "https://api-1.example",
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: "read write",
        audience: "https://api-1.example",
        accessTokenTTL: 300,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "ES256" } },
      }),
    },
  },
});
const server = provider.listen(port, "127.0.0.1");
server.on("listening", () => console.log(`listening ${issuer}`));
