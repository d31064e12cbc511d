import type { PeerCertificate } from "node:tls";
import { describe, expect, it } from "vitest";
import type * as grpc from "@grpc/grpc-js";
import type { TlsMaterial } from "./tls-material.js";
import { MaterialProvider, currentSpiffeIdOf, spiffeIdOf } from "./tls.js";

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

describe("currentSpiffeIdOf", () => {
  const cert = { subjectaltname: "URI:spiffe://mesh.example/svc-a", valid_from: "Nov 24 10:00:00 2026 GMT", valid_to: "Nov 24 11:00:00 2026 GMT" };
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
