import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Metadata } from "@grpc/grpc-js";
import type { AccessTokenClaims } from "@sts/jwt";
import { callerHeaders, headerSafe, peerHeaders } from "./caller-headers.js";

const caller = (sub: string, actors: string[], clientId = "app") => ({
  token: "t",
  claims: { iss: "i", sub, aud: "a", exp: 2, iat: 1, jti: "j-1", client_id: clientId } as AccessTokenClaims,
  sub,
  scopes: ["read:/data", "b"],
  actors,
});

describe("caller headers", () => {
  it("names who vouches for the subject: this stack, or the trusted issuer its sub_id records", () => {
    expect(callerHeaders(caller("alice", []))["x-mesh-subject-issuer"]).toBe("i");
    const federated = caller("alice", ["edge"]);
    federated.claims.sub_id = { format: "iss_sub", iss: "https://idp.example/realms/main", sub: "alice" };
    expect(callerHeaders(federated)["x-mesh-subject-issuer"]).toBe("https://idp.example/realms/main");
    // A sub_id about someone else is not about this subject.
    federated.claims.sub_id = { format: "iss_sub", iss: "https://idp.example/realms/main", sub: "bob" };
    expect(callerHeaders(federated)["x-mesh-subject-issuer"]).toBe("i");
  });

  it("leaves ordinary ids readable", () => {
    expect(headerSafe("admin:test/vo_1")).toBe("admin:test/vo_1");
    expect(headerSafe("spiffe://mesh.example/ns/a/sa/b")).toBe("spiffe://mesh.example/ns/a/sa/b");
  });

  it("encodes what a header cannot carry, and what would change its meaning", () => {
    expect(headerSafe("Zoë 李")).toBe("Zo%C3%AB%20%E6%9D%8E");
    expect(headerSafe("job,svc-payments")).toBe("job%2Csvc-payments");
    expect(headerSafe("100%")).toBe("100%25");
    expect(headerSafe("a\r\nx-mesh-subject: admin")).toBe("a%0D%0Ax-mesh-subject:%20admin");
  });

  it("refuses an id with a lone surrogate, which has no UTF-8 form to tell it apart from another", () => {
    expect(() => headerSafe("a\uD800")).toThrow(/not well-formed/);
    expect(() => callerHeaders(caller("alice", ["\uDC00"]))).toThrow(/not well-formed/);
  });

  it("names the mutual TLS peer by its SPIFFE ID, encoded like every id, and only when there is one", () => {
    expect(peerHeaders("spiffe://mesh.example/ns/a/sa/svc-a")).toEqual({ "x-mesh-peer": "spiffe://mesh.example/ns/a/sa/svc-a" });
    expect(peerHeaders("spiffe://mesh.example/a b,c")).toEqual({ "x-mesh-peer": "spiffe://mesh.example/a%20b%2Cc" });
    expect(peerHeaders(undefined)).toEqual({});
    // A token's headers never carry it: only the transport can say who the peer is.
    expect(Object.keys(callerHeaders(caller("alice", [])))).not.toContain("x-mesh-peer");
  });

  it("keeps an actor with a comma in it one actor", () => {
    const h = callerHeaders(caller("alice", ["job,svc-payments", "svc-a"]));
    expect(h["x-mesh-actors"].split(",").map(decodeURIComponent)).toEqual(["job,svc-payments", "svc-a"]);
  });

  it("round-trips any id, and the result is a legal gRPC metadata value and HTTP header value", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 40 }), (id) => {
        const v = headerSafe(id);
        expect(decodeURIComponent(v)).toBe(id);
        expect(v).toMatch(/^[\x21-\x7e]*$/);
        new Metadata().set("x-mesh-subject", v);
      }),
    );
  });
});
