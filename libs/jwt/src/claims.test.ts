import { describe, expect, it } from "vitest";
import { SignJWT } from "jose";
import { MAX_LINEAGE, isLineageKids, isTokenRevoked, revocableClaimsOf } from "./claims.js";
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
    isKeyWithdrawn: () => false,
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
      isKeyWithdrawn: () => false,
    };
    expect(() => isTokenRevoked(at3, stale)).toThrow("stale");
  });

  it("judges a subject revocation by where the chain began (origin_iat): a hop exchanged after it is covered", () => {
    // Exchanged at T + 100 from a chain begun at T; the subject was revoked at T + 50.
    const late: RevocableClaims = { ...at3, iat: T + 100, origin_iat: T };
    expect(isTokenRevoked(late, state([], [[STS, "alice", T + 50]]))).toBe(true);
    expect(isTokenRevoked(late, state([], [[STS, "alice", T - 1]]))).toBe(false);
    expect(isTokenRevoked({ ...at3, iat: T + 100 }, state([], [[STS, "alice", T + 50]]))).toBe(false);
  });

  it("revokes, up to a revoked client's revocation, the tokens issued to it and those made through it as an actor", () => {
    // AT3 of alice's chain, exchanged by svc-b from what svc-a got: issued to svc-b, svc-a acted before it.
    const chained: RevocableClaims = { ...at3, client_id: "svc-b", act: { sub: "svc-b", act: { sub: "svc-a" } } };
    expect(isTokenRevoked(chained, state([], [[STS, "svc-b", T]]))).toBe(true);
    expect(isTokenRevoked(chained, state([], [[STS, "svc-a", T]]))).toBe(true);
    // What a revoked client was issued after its revocation is its own again; another client's revocation is nothing to it.
    expect(isTokenRevoked(chained, state([], [[STS, "svc-a", T - 1]]))).toBe(false);
    expect(isTokenRevoked(chained, state([], [[STS, "svc-c", T]]))).toBe(false);
    // Clients are the token's issuer's: a provider's client of the same name is another principal.
    expect(isTokenRevoked(chained, state([], [[IDP, "svc-a", T]]))).toBe(false);
    // Issued straight to the client for a user (the dedicated issuer, a refresh): no actor, the client_id alone.
    const direct: RevocableClaims = { jti: "dti", iss: STS, sub: "dave", iat: T, client_id: "svc-w" };
    expect(isTokenRevoked(direct, state([], [[STS, "svc-w", T]]))).toBe(true);
    expect(isTokenRevoked({ ...direct, client_id: "svc-v" }, state([], [[STS, "svc-w", T]]))).toBe(false);
    // A client deeper in the chain than the one the token was issued to.
    const deeper: RevocableClaims = { ...at3, client_id: "svc-c", act: { sub: "svc-c", act: { sub: "svc-w" } } };
    expect(isTokenRevoked(deeper, state([], [[STS, "svc-w", T]]))).toBe(true);
  });

  it("judges a revoked client by where the chain began: a hop made through it after its revocation, from a chain begun before, is covered", () => {
    // Exchanged at T + 100 (an exchanger that had not yet seen the revocation, or a thief with svc-b's old secret) from alice's chain begun at T.
    const late: RevocableClaims = { ...at3, iat: T + 100, origin_iat: T, client_id: "svc-c", act: { sub: "svc-c", act: { sub: "svc-b" } } };
    expect(isTokenRevoked(late, state([], [[STS, "svc-b", T + 50]]))).toBe(true);
    expect(isTokenRevoked({ ...late, client_id: "svc-b" }, state([], [[STS, "svc-b", T + 50]]))).toBe(true);
    // A chain begun after the revocation is the client's own again.
    expect(isTokenRevoked({ ...late, origin_iat: T + 60 }, state([], [[STS, "svc-b", T + 50]]))).toBe(false);
    // Without origin_iat (a token not exchanged), iat is where its chain began.
    expect(isTokenRevoked({ ...late, origin_iat: undefined }, state([], [[STS, "svc-b", T + 50]]))).toBe(false);
    expect(isTokenRevoked({ ...late, origin_iat: undefined }, state([], [[STS, "svc-b", T + 100]]))).toBe(true);
  });

  it("checks a state's freshness once per token and then reads its checked lookups, for the jti, every lineage jti and the subject", () => {
    let checks = 0;
    const lookups = state([], [[STS, "alice", T - 1]]);
    const asked: string[] = [];
    const guarded: RevocationState = {
      isRevoked: () => {
        throw new Error("read without the check");
      },
      subjectRevokedAt: () => {
        throw new Error("read without the check");
      },
      isKeyWithdrawn: () => {
        throw new Error("read without the check");
      },
      checked: () => {
        checks++;
        return {
          isRevoked: (jti) => (asked.push(jti), lookups.isRevoked(jti)),
          subjectRevokedAt: (iss, sub) => lookups.subjectRevokedAt(iss, sub),
          isKeyWithdrawn: (iss, kid) => lookups.isKeyWithdrawn(iss, kid),
        };
      },
    };
    expect(isTokenRevoked(at3, guarded)).toBe(false);
    expect(checks).toBe(1);
    expect(asked).toEqual(["at3", "at2", "at1"]);
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

  it("reads the client and the actors, so a cache drops what a revoked workload was issued or acted in", async () => {
    const act = { sub: "svc-c", act: { sub: "svc-w" } };
    const claims = revocableClaimsOf(await sign({ jti: "j", iss: STS, sub: "alice", iat: T, client_id: "svc-c", act }));
    expect(claims).toMatchObject({ client_id: "svc-c", act });
    expect(isTokenRevoked(claims!, state([], [[STS, "svc-w", T]]))).toBe(true);
    // A malformed act reads as none: it names no actor to revoke by.
    expect(revocableClaimsOf(await sign({ jti: "j", iss: STS, sub: "alice", iat: T, act: "svc-w" }))?.act).toBeUndefined();
  });

  it("reads the client a chain began with, so a cache drops hops of a revoked client's token; a malformed one leaves nothing to trust", async () => {
    const base = { jti: "j", iss: STS, sub: "alice", iat: T, client_id: "svc-a" };
    const claims = revocableClaimsOf(await sign({ ...base, origin_client_id: "webapp" }));
    expect(claims?.origin_client_id).toBe("webapp");
    expect(isTokenRevoked(claims!, state([], [[STS, "webapp", T]]))).toBe(true);
    expect(isTokenRevoked(claims!, state([], [[STS, "webapp", T - 1]]))).toBe(false);
    for (const origin_client_id of ["", 7, ["webapp"], "c".repeat(257)]) expect(revocableClaimsOf(await sign({ ...base, origin_client_id }))).toBeUndefined();
    expect(revocableClaimsOf(await sign({ ...base, origin_client_id: "c".repeat(256) }))?.origin_client_id).toHaveLength(256);
  });

  it("reads origin_iat when well-formed, and a malformed one (not a number, after iat) as a chain begun before any revocation", async () => {
    const base = { jti: "j", iss: STS, sub: "alice", iat: T + 100 };
    expect(revocableClaimsOf(await sign({ ...base, origin_iat: T }))).toMatchObject({ iat: T + 100, origin_iat: T });
    expect(revocableClaimsOf(await sign(base))?.origin_iat).toBeUndefined();
    for (const origin_iat of [String(T), T + 101, null]) {
      const claims = revocableClaimsOf(await sign({ ...base, origin_iat }));
      expect(claims?.origin_iat).toBe(-Infinity);
      expect(isTokenRevoked(claims!, state([], [[STS, "alice", 0]]))).toBe(true);
    }
  });

  it("reads a token without iat as issued before any subject revocation, and refuses what is not a JWT", async () => {
    const claims = revocableClaimsOf(await sign({ jti: "j", iss: STS, sub: "alice", lineage: "not-a-list" }));
    expect(claims).toMatchObject({ jti: "j", iat: -Infinity });
    expect(claims?.lineage).toBeUndefined();
    expect(isTokenRevoked(claims!, state([], [[STS, "alice", 0]]))).toBe(true);
    expect(revocableClaimsOf("not a jwt")).toBeUndefined();
  });

  it("reads an iat that is no finite number (1e400 parses as Infinity) as issued before any subject revocation", () => {
    const token = (payload: string): string => `${Buffer.from('{"alg":"ES256"}').toString("base64url")}.${Buffer.from(payload).toString("base64url")}.c2ln`;
    const claims = revocableClaimsOf(token(`{"jti":"j","iss":"${STS}","sub":"alice","iat":1e400}`));
    expect(claims?.iat).toBe(-Infinity);
    expect(isTokenRevoked(claims!, state([], [[STS, "alice", 0]]))).toBe(true);
  });
});

describe("a withdrawn signing key", () => {
  /** Revocation state in which `iss` withdrew the key `kid`. */
  const withdrawn = (iss: string, kid: string): RevocationState => ({ ...state([]), isKeyWithdrawn: (i, k) => i === iss && k === kid });

  it("revokes every token its issuer signed with it, whenever it was signed, and nothing else", () => {
    expect(isTokenRevoked({ ...at3, kid: "k1" }, withdrawn(STS, "k1"))).toBe(true);
    expect(isTokenRevoked({ ...at3, kid: "k2" }, withdrawn(STS, "k1"))).toBe(false);
    // Another issuer's key of the same kid is another key.
    expect(isTokenRevoked({ ...at3, kid: "k1" }, withdrawn(IDP, "k1"))).toBe(false);
    // Without a kid (an opaque token's claims) there is no key to look up.
    expect(isTokenRevoked(at3, withdrawn(STS, "k1"))).toBe(false);
  });

  it("is read from a token's protected header by revocableClaimsOf, so a cached exchange made from it is dropped", async () => {
    const key = new TextEncoder().encode("k".repeat(32));
    const token = await new SignJWT({ jti: "at1", iss: STS, sub: "alice", iat: T }).setProtectedHeader({ alg: "HS256", kid: "k1" }).sign(key);
    const claims = revocableClaimsOf(token);
    expect(claims?.kid).toBe("k1");
    expect(isTokenRevoked(claims!, withdrawn(STS, "k1"))).toBe(true);
  });

  it("revokes every token exchanged from one it signed (lineage_kids), whatever key signed the hop; another issuer's key of that kid is another key", () => {
    // AT3, signed by k3 after a rotation, from AT2 (signed by k2) and AT1 (signed by k1).
    const hop: RevocableClaims = { ...at3, kid: "k3", lineage_kids: ["k2", "k1"] };
    expect(isTokenRevoked(hop, withdrawn(STS, "k1"))).toBe(true);
    expect(isTokenRevoked(hop, withdrawn(STS, "k2"))).toBe(true);
    expect(isTokenRevoked(hop, withdrawn(STS, "k3"))).toBe(true);
    expect(isTokenRevoked(hop, withdrawn(STS, "k4"))).toBe(false);
    expect(isTokenRevoked(hop, withdrawn(IDP, "k1"))).toBe(false);
    // An opaque token's claims have no kid of their own, but their lineage_kids still count.
    expect(isTokenRevoked({ ...at3, lineage_kids: ["k1"] }, withdrawn(STS, "k1"))).toBe(true);
  });

  it("is read with its ancestors' kids by revocableClaimsOf; a malformed lineage_kids leaves nothing to trust", async () => {
    const key = new TextEncoder().encode("k".repeat(32));
    const sign = (claims: Record<string, unknown>): Promise<string> =>
      new SignJWT({ jti: "at3", iss: STS, sub: "alice", iat: T, ...claims }).setProtectedHeader({ alg: "HS256", kid: "k3" }).sign(key);
    const claims = revocableClaimsOf(await sign({ lineage_kids: ["k1"] }));
    expect(claims).toMatchObject({ kid: "k3", lineage_kids: ["k1"] });
    expect(isTokenRevoked(claims!, withdrawn(STS, "k1"))).toBe(true);
    expect(revocableClaimsOf(await sign({}))?.lineage_kids).toBeUndefined();
    const most = Array.from({ length: MAX_LINEAGE }, (_, i) => `k${i}`);
    expect(revocableClaimsOf(await sign({ lineage_kids: most }))?.lineage_kids).toHaveLength(MAX_LINEAGE);
    expect(revocableClaimsOf(await sign({ lineage_kids: ["k".repeat(256)] }))?.lineage_kids).toEqual(["k".repeat(256)]);
    // Read as absent, any of these would keep a cached token alive past the withdrawal of a key its chain rests on.
    for (const lineage_kids of [[], "k1", [7], [""], ["k1", "k1"], ["k".repeat(257)], [...most, "k-extra"], null, { k1: true }]) {
      expect(isLineageKids(lineage_kids)).toBe(false);
      expect(revocableClaimsOf(await sign({ lineage_kids }))).toBeUndefined();
    }
  });
});
