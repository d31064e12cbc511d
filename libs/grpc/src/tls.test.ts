import type { PeerCertificate } from "node:tls";
import { describe, expect, it } from "vitest";
import { spiffeIdOf } from "./tls.js";

const peer = (subjectaltname: string | undefined) => ({ subjectaltname }) as PeerCertificate;

describe("spiffeIdOf", () => {
  it("reads the one URI SAN of an X.509-SVID, whatever other names it has", () => {
    expect(spiffeIdOf(peer("URI:spiffe://example.org/ns/mesh-sts/sa/issuer"))).toBe("spiffe://example.org/ns/mesh-sts/sa/issuer");
    expect(spiffeIdOf(peer("DNS:issuer.mesh-sts.svc, URI:spiffe://example.org/issuer, IP Address:10.0.0.1"))).toBe("spiffe://example.org/issuer");
  });

  it("finds none when there is no URI SAN or more than one (an SVID has exactly one)", () => {
    expect(spiffeIdOf(peer(undefined))).toBeUndefined();
    expect(spiffeIdOf(peer("DNS:localhost, IP Address:127.0.0.1"))).toBeUndefined();
    expect(spiffeIdOf(peer("URI:spiffe://example.org/a, URI:spiffe://example.org/b"))).toBeUndefined();
  });
});
