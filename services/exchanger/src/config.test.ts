import { describe, expect, it } from "vitest";
import { parseConfig } from "@sts/config";
import { trustedIssuersOf } from "./config.js";

const idp = { issuer: "https://idp.example/realms/main", jwks_uri: "https://idp.example/realms/main/certs" };
const endpoint = "https://idp.example/realms/main/introspect";

describe("trustedIssuersOf", () => {
  it("leaves a trusted issuer without introspection as it is", () => {
    const config = parseConfig({ exchange: { trusted_issuers: [idp] } });
    expect(trustedIssuersOf(config, {})).toEqual([{ ...idp, algorithms: expect.any(Array) as unknown, typ: ["at+jwt"], claims: {} }]);
  });

  it("resolves the introspection secret to the file it is read from, or to the value of the variable it names", () => {
    const config = parseConfig({
      exchange: {
        trusted_issuers: [
          { ...idp, introspection: { endpoint, client_id: "sts", client_secret_file: "/run/secrets/idp" } },
          { ...idp, issuer: "https://idp2.example", introspection: { endpoint, client_id: "sts", client_secret_env: "IDP2_SECRET", cache_ttl: 5 } },
        ],
      },
    });
    const [first, second] = trustedIssuersOf(config, { IDP2_SECRET: "from-the-environment" });
    expect(first?.introspection).toEqual({ endpoint, client_id: "sts", client_secret: { file: "/run/secrets/idp" }, cache_ttl: 30, timeout_ms: 3000 });
    expect(second?.introspection).toEqual({ endpoint, client_id: "sts", client_secret: { value: "from-the-environment" }, cache_ttl: 5, timeout_ms: 3000 });
  });

  it("stops the start when the named variable is not set, naming the setting and the variable", () => {
    const config = parseConfig({ exchange: { trusted_issuers: [{ ...idp, introspection: { endpoint, client_id: "sts", client_secret_env: "IDP_SECRET" } }] } });
    expect(() => trustedIssuersOf(config, {})).toThrow("exchange.trusted_issuers[0].introspection.client_secret_env: IDP_SECRET is not set");
    expect(() => trustedIssuersOf(config, { IDP_SECRET: "" })).toThrow(/IDP_SECRET is not set/);
  });
});
