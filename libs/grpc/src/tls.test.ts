import type { PeerCertificate } from "node:tls";
import { describe, expect, it } from "vitest";
import type * as grpc from "@grpc/grpc-js";
import type { TlsMaterial } from "./tls-material.js";
import { MaterialProvider, currentSpiffeIdOf, isLeafSpiffeId, spiffeIdOf } from "./tls.js";

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

  it("finds none on a CA certificate, whatever its URI SAN (X509-SVID §4.1, §5.2: a signing certificate never authenticates)", () => {
    expect(spiffeIdOf({ subjectaltname: "URI:spiffe://example.org/issuer", ca: true })).toBeUndefined();
    expect(spiffeIdOf({ subjectaltname: "URI:spiffe://example.org/issuer", ca: false })).toBe("spiffe://example.org/issuer");
  });

  it("finds none when the one URI SAN is not a SPIFFE ID of a workload (X509-SVID §5.2, SPIFFE-ID §2)", () => {
    expect(spiffeIdOf(peer("URI:https://example.org/issuer"))).toBeUndefined();
    expect(spiffeIdOf(peer("URI:spiffe://example.org/a/../issuer"))).toBeUndefined();
    // Node quotes a name holding a comma and escapes the comma: one name, never read as two.
    expect(spiffeIdOf(peer('URI:"spiffe://example.org/a\\u002c URI:spiffe://example.org/issuer"'))).toBeUndefined();
    expect(spiffeIdOf(peer('DNS:"x\\u002c URI:spiffe://example.org/issuer\\u002c DNS:y"'))).toBeUndefined();
  });
});

describe("isLeafSpiffeId", () => {
  it("accepts the SPIFFE ID syntax: a lowercase trust domain of [a-z0-9._-], path segments of [A-Za-z0-9._-]", () => {
    for (const id of ["spiffe://example.org/ns/mesh-sts/sa/issuer", "spiffe://a_b.c-d/Path_1/x.y-z", "spiffe://10.0.0.1/x", "spiffe://td/..."]) {
      expect(isLeafSpiffeId(id), id).toBe(true);
    }
  });

  it.each([
    ["another scheme", "https://example.org/issuer"],
    ["an uppercase scheme", "SPIFFE://example.org/issuer"],
    ["no trust domain", "spiffe:///issuer"],
    ["an uppercase trust domain (SPIFFE-ID §2.1)", "spiffe://Example.org/issuer"],
    ["a port", "spiffe://example.org:443/issuer"],
    ["userinfo", "spiffe://admin@example.org/issuer"],
    ["a query", "spiffe://example.org/issuer?x=1"],
    ["a fragment", "spiffe://example.org/issuer#x"],
    ["percent-encoding", "spiffe://example.org/iss%75er"],
    ["an empty segment", "spiffe://example.org/a//b"],
    ["a trailing slash", "spiffe://example.org/issuer/"],
    ["a . segment", "spiffe://example.org/./issuer"],
    ["a .. segment", "spiffe://example.org/a/../issuer"],
    ["no path (a trust domain's own ID, X509-SVID §3.1)", "spiffe://example.org"],
    ["a root path", "spiffe://example.org/"],
    ["a space", "spiffe://example.org/a b"],
    ["more than 2,048 bytes (SPIFFE-ID §2.3)", `spiffe://example.org/${"a".repeat(2048 - "spiffe://example.org/".length + 1)}`],
    ["a trust domain of more than 255 bytes", `spiffe://${"a".repeat(256)}/x`],
  ])("refuses %s", (_why, id) => {
    expect(isLeafSpiffeId(id)).toBe(false);
  });

  it("accepts an ID of exactly 2,048 bytes", () => {
    expect(isLeafSpiffeId(`spiffe://example.org/${"a".repeat(2048 - "spiffe://example.org/".length)}`)).toBe(true);
  });
});

describe("currentSpiffeIdOf", () => {
  const cert = { subjectaltname: "URI:spiffe://mesh.example/svc-a", ca: false, valid_from: "Nov 24 10:00:00 2026 GMT", valid_to: "Nov 24 11:00:00 2026 GMT" };
  const at = (iso: string): number => Date.parse(iso);

  it("names the peer while its certificate is inside its dates, ends included", () => {
    expect(currentSpiffeIdOf(cert, at("2026-11-24T10:00:00Z"))).toBe("spiffe://mesh.example/svc-a");
    expect(currentSpiffeIdOf(cert, at("2026-11-24T11:00:00Z"))).toBe("spiffe://mesh.example/svc-a");
  });

  it("names nobody for a certificate expired or not yet valid (a kept-alive connection outlives the handshake's check), or with dates that do not parse", () => {
    expect(currentSpiffeIdOf(cert, at("2026-11-24T11:00:01Z"))).toBeUndefined();
    expect(currentSpiffeIdOf(cert, at("2026-11-24T09:59:59Z"))).toBeUndefined();
    expect(currentSpiffeIdOf({ ...cert, valid_to: "soon" }, at("2026-11-24T10:30:00Z"))).toBeUndefined();
  });
});

describe("MaterialProvider", () => {
  const material = (name: string): TlsMaterial => ({ cert: Buffer.from(`${name} cert`), key: Buffer.from(`${name} key`), ca: Buffer.from(`${name} ca`) });

  it("hands a new listener the material in use when it delivers, not when the listener was added", async () => {
    const provider = new MaterialProvider(material("first"));
    const identity: Array<grpc.experimental.IdentityCertificateUpdate | null> = [];
    const ca: Array<grpc.experimental.CaCertificateUpdate | null> = [];
    provider.addIdentityCertificateListener((update) => identity.push(update));
    provider.addCaCertificateListener((update) => ca.push(update));
    // Before the first delivery: the identity withdrawn, a new bundle applied and withdrawn again.
    provider.apply(material("next"));
    provider.withdraw();
    await new Promise((resolve) => process.nextTick(resolve));
    expect(identity.at(-1)).toBeNull();
    expect(ca.at(-1)?.caCertificate.toString()).toBe("next ca");
  });

  it("tells its subscribers when the identity is withdrawn and when it is back, once each", () => {
    const provider = new MaterialProvider(material("first"));
    const seen: boolean[] = [];
    const unsubscribe = provider.subscribe((held) => seen.push(held));
    provider.apply(material("rotated"));
    provider.withdraw();
    provider.withdraw();
    expect(provider.held()).toBe(false);
    provider.apply(material("next"));
    unsubscribe();
    provider.withdraw();
    expect(seen).toEqual([false, true]);
  });
});
