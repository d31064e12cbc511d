/**
 * Which addresses a client's jwks_uri may be fetched from (server-side request forgery): public ones, and those of the
 * networks the operator allows; and which jwks_uri a registration refuses for its host alone.
 */
import { describe, expect, it } from "vitest";
import { KeyServerAddresses, jwksUriProblem } from "./index.js";

/** Internal addresses, each in a form an attacker might try. */
const INTERNAL = [
  "127.0.0.1",
  "127.8.9.10",
  "169.254.169.254",
  "10.0.0.7",
  "172.16.0.1",
  "172.31.255.255",
  "192.168.1.1",
  "100.100.100.200",
  "0.0.0.0",
  "255.255.255.255",
  "224.0.0.1",
  "::",
  "::1",
  "fc00::1",
  "fd00:ec2::254",
  "fe80::1",
  "fe80::1%eth0",
  // IPv4-mapped, in both notations, IPv4-compatible, NAT64, 6to4 and SIIT forms of internal IPv4 addresses.
  "::ffff:127.0.0.1",
  "::ffff:7f00:1",
  "::ffff:a9fe:a9fe",
  "::127.0.0.1",
  "64:ff9b::a9fe:a9fe",
  "64:ff9b::10.0.0.7",
  "2002:a9fe:a9fe::1",
  // IPv4-translated (SIIT), in both notations.
  "::ffff:0:127.0.0.1",
  "::ffff:0:a9fe:a9fe",
];

const PUBLIC = ["8.8.8.8", "93.184.216.34", "172.32.0.1", "192.169.0.1", "2606:4700::1111", "2a00:1450:4001::200e", "::ffff:8.8.8.8", "64:ff9b::808:808"];

describe("the addresses a client's key set is fetched from", () => {
  it("are public ones only, by default", () => {
    const addresses = new KeyServerAddresses();
    for (const address of INTERNAL) expect([address, addresses.refusal(address)]).toEqual([address, expect.stringMatching(/is not a public address/)]);
    for (const address of PUBLIC) expect([address, addresses.refusal(address)]).toEqual([address, undefined]);
    expect(addresses.refusal("localhost")).toBe("localhost is not an IP address");
  });

  it("include the networks the operator allows, in every form of their addresses, and nothing else internal", () => {
    const addresses = new KeyServerAddresses(["10.20.0.0/16", "fd12:3456::/48"]);
    for (const address of ["10.20.0.5", "::ffff:10.20.0.5", "64:ff9b::a14:5", "fd12:3456::7"])
      expect([address, addresses.refusal(address)]).toEqual([address, undefined]);
    for (const address of ["10.21.0.5", "169.254.169.254", "127.0.0.1", "fd12:3457::7"]) expect(addresses.refusal(address)).toMatch(/is not a public address/);
  });

  it("takes allowed networks in CIDR notation only (a wiring mistake otherwise: the config schema checks them)", () => {
    expect(() => new KeyServerAddresses(["10.20.0.0"])).toThrow(TypeError);
    expect(() => new KeyServerAddresses(["intranet/8"])).toThrow(TypeError);
  });
});

describe("a registered jwks_uri", () => {
  it("is refused when its host is an internal address, however written, and the answer does not repeat it", () => {
    for (const uri of [
      "https://127.0.0.1/jwks",
      "https://0x7f.1/jwks",
      "https://2130706433/jwks",
      "https://169.254.169.254/latest/meta-data/",
      "https://[::1]:8443/jwks",
      "https://[::ffff:169.254.169.254]/",
      "https://[fd00:ec2::254]/",
      "https://10.0.0.7:4222/",
    ]) {
      const problem = jwksUriProblem(uri);
      expect([uri, problem]).toEqual([uri, "its host is a private, loopback, link-local or other non-public address, which the issuer does not fetch from"]);
    }
  });

  it("is taken with a public address or any name (names are checked where they resolve, as the issuer connects)", () => {
    for (const uri of ["https://keys.example.com/jwks", "https://93.184.216.34/jwks", "https://[2606:4700::1111]/jwks", "https://localhost/jwks"]) {
      expect(jwksUriProblem(uri)).toBeUndefined();
    }
    // Not a URL: the config schema's to say, in its words.
    expect(jwksUriProblem("not a url")).toBeUndefined();
  });

  it("may name an allowed network's address when the addresses given allow it", () => {
    expect(jwksUriProblem("https://10.20.0.5/jwks", new KeyServerAddresses(["10.20.0.0/16"]))).toBeUndefined();
  });
});
