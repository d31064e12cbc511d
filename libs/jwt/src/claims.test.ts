import { describe, expect, it } from "vitest";
import { SignJWT } from "jose";
import { isTokenRevoked, revocableClaimsOf } from "./claims.js";
import type { RevocableClaims, RevocationState } from "./claims.js";

const STS = "https://sts";
const IDP = "https://idp";
const T = 1_800_000_000;

/** Revocation state holding these revoked jtis and subjects (`iss` → `sub` → revoked_at). */
function state(jtis: string[], subjects: Array<[iss: string, sub: string, revokedAt: number]> = []): RevocationState {
  const revoked = new Set(jtis);
  return {
    isRevoked: (jti) => revoked.has(jti),
    subjectRevokedAt: (iss, sub) => subjects.find(([i, s]) => i === iss && s === sub)?.[2],
  };
}

/** A token of this stack's for alice, issued at T, exchanged twice (AT3 of a chain AT1 → AT2 → AT3). */
const at3: RevocableClaims = { jti: "at3", lineage: ["at2", "at1"], iss: STS, sub: "alice", iat: T };
/** The same chain for the provider's alice: this stack's tokens carry the provider as RFC 9493 sub_id. */
const federated: RevocableClaims = { ...at3, sub_id: { format: "iss_sub", iss: IDP, sub: "alice" } };

describe("isTokenRevoked", () => {
  it("revokes a token by its own jti or any jti of its lineage, and not by an unrelated one", () => {
    expect(isTokenRevoked(at3, state([]))).toBe(false);
    expect(isTokenRevoked(at3, state(["at3"]))).toBe(true);
    expect(isTokenRevoked(at3, state(["at1"]))).toBe(true);
    expect(isTokenRevoked(at3, state(["at2"]))).toBe(true);
    expect(isTokenRevoked(at3, state(["at4", "other"]))).toBe(false);
    expect(isTokenRevoked({ jti: "at1", iss: STS, sub: "alice", iat: T }, state(["at3"]))).toBe(false);
  });

  it("revokes every token of a local subject issued at or before the revocation, and none issued after", () => {
    expect(isTokenRevoked(at3, state([], [[STS, "alice", T]]))).toBe(true);
    expect(isTokenRevoked(at3, state([], [[STS, "alice", T + 100]]))).toBe(true);
    expect(isTokenRevoked(at3, state([], [[STS, "alice", T - 1]]))).toBe(false);
    expect(isTokenRevoked(at3, state([], [[STS, "bob", T]]))).toBe(false);
  });

  it("names a federated subject by its sub_id issuer: the provider's alice is not this stack's alice, either way", () => {
    expect(isTokenRevoked(federated, state([], [[IDP, "alice", T]]))).toBe(true);
    expect(isTokenRevoked(federated, state([], [[STS, "alice", T]]))).toBe(false);
    expect(isTokenRevoked(at3, state([], [[IDP, "alice", T]]))).toBe(false);
    expect(isTokenRevoked(federated, state([], [[IDP, "alice", T - 1]]))).toBe(false);
  });

  it("reads a sub_id naming another subject as no sub_id: the token's own iss vouches for its sub", () => {
    const odd: RevocableClaims = { ...at3, sub_id: { format: "iss_sub", iss: IDP, sub: "mallory" } };
    expect(isTokenRevoked(odd, state([], [[STS, "alice", T]]))).toBe(true);
    expect(isTokenRevoked(odd, state([], [[IDP, "mallory", T]]))).toBe(false);
  });

  it("passes on a failure of the revocation state (too old to trust) rather than answering not revoked", () => {
    const stale: RevocationState = {
      isRevoked: () => false,
      subjectRevokedAt: () => {
        throw new Error("stale");
      },
    };
    expect(() => isTokenRevoked(at3, stale)).toThrow("stale");
  });
});

describe("revocableClaimsOf", () => {
  const key = new TextEncoder().encode("k".repeat(32));
  const sign = (claims: Record<string, unknown>): Promise<string> => new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(key);

  it("reads what revokes a token without verifying it, so a cache can drop what it holds", async () => {
    const token = await sign({ jti: "at3", lineage: ["at2", "at1"], iss: STS, sub: "alice", iat: T, sub_id: { format: "iss_sub", iss: IDP, sub: "alice" } });
    const claims = revocableClaimsOf(token);
    expect(claims).toEqual({ jti: "at3", lineage: ["at2", "at1"], iss: STS, sub: "alice", iat: T, sub_id: { format: "iss_sub", iss: IDP, sub: "alice" } });
    expect(isTokenRevoked(claims!, state([], [[IDP, "alice", T]]))).toBe(true);
  });

  it("reads a token without iat as issued before any subject revocation, and refuses what is not a JWT", async () => {
    const claims = revocableClaimsOf(await sign({ jti: "j", iss: STS, sub: "alice", lineage: "not-a-list" }));
    expect(claims).toMatchObject({ jti: "j", iat: -Infinity });
    expect(claims?.lineage).toBeUndefined();
    expect(isTokenRevoked(claims!, state([], [[STS, "alice", 0]]))).toBe(true);
    expect(revocableClaimsOf("not a jwt")).toBeUndefined();
  });
});
