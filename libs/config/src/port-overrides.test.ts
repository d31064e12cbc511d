import { describe, expect, it } from "vitest";
import { parseConfig } from "./index.js";
import { problemsOf } from "./problems.fixture.js";

describe("port overrides from the environment", () => {
  it.each([
    ["a blank value, which Number() reads as port 0 (a random one)", " "],
    ["a hexadecimal number", "0x1f90"],
    ["an exponent", "8e3"],
    ["a fraction", "8080.0"],
    ["a word", "http"],
  ])("refuses %s, naming the variable", (_what, value) => {
    expect(problemsOf(() => parseConfig({}, { STS_ISSUER_PORT: value }))).toEqual([
      "STS_ISSUER_PORT: expected a port number in decimal digits (it overrides services.issuer.port)",
    ]);
  });

  it("refuses an admin port likewise, rather than serving the probes somewhere no probe looks", () => {
    expect(problemsOf(() => parseConfig({ services: { policy: { admin_port: 9467 } } }, { STS_POLICY_ADMIN_PORT: "\t" }))).toEqual([
      "STS_POLICY_ADMIN_PORT: expected a port number in decimal digits (it overrides services.policy.admin_port)",
    ]);
  });

  it("takes decimal ports, and leaves the range to the schema", () => {
    const c = parseConfig({}, { STS_ISSUER_PORT: "7000", STS_GATEWAY_ADMIN_PORT: "0" });
    expect([c.services.issuer.port, c.services.gateway.admin_port]).toEqual([7000, 0]);
    expect(problemsOf(() => parseConfig({}, { STS_ISSUER_PORT: "70000" }))[0]).toMatch(/^services\.issuer\.port: /);
  });
});
