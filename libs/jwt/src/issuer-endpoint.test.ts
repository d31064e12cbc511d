import { describe, expect, it } from "vitest";
import { issuerEndpoint } from "./issuer-endpoint.js";

describe("issuerEndpoint", () => {
  it("appends the path to the issuer identifier, with or without its trailing slash, never making a //", () => {
    expect(issuerEndpoint("https://sts.example", "/oauth2/token")).toBe("https://sts.example/oauth2/token");
    expect(issuerEndpoint("https://sts.example/tenant-a/", "/oauth2/jwks")).toBe("https://sts.example/tenant-a/oauth2/jwks");
    expect(issuerEndpoint("https://sts.example/tenant-a", "/oauth2/jwks")).toBe("https://sts.example/tenant-a/oauth2/jwks");
  });
});
