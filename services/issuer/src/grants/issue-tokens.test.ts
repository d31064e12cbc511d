import { describe, expect, it } from "vitest";
import { clientRecord } from "../../../../libs/client-auth/src/record.fixture.js";
import type { TokenRequest__Output } from "@sts/proto";
import { assertionOrigin, issueTokens, narrowToClient } from "./issue-tokens.js";
import { refreshToken } from "./refresh-token.js";
import type { GrantDeps } from "./grant.js";

const T = 1_800_000_000;

/** The clients registered here. */
const CLIENTS = new Set(["svc-w", "svc-v"]);

/** The deps assertionOrigin reads: the clock, the client registry and the revocations bucket, here a map of principal → revoked_at. */
const deps = (revoked: Record<string, number>): GrantDeps =>
  ({
    now: () => T,
    lookup: (id: string) => (CLIENTS.has(id) ? { client_id: id } : undefined),
    subjectRevokedAt: (sub: string) => Promise.resolve(revoked[sub]),
  }) as unknown as GrantDeps;

const outcome = (p: Promise<number>): Promise<string | number> => p.catch((err: { code?: string }) => err.code ?? "thrown");

describe("assertionOrigin", () => {
  it("is the assertion's iat, capped at now, while neither its user nor the client is revoked", async () => {
    expect(await assertionOrigin("alice", "svc-w", T - 30, deps({}))).toBe(T - 30);
    expect(await assertionOrigin("alice", "svc-w", T + 5, deps({}))).toBe(T);
    expect(await assertionOrigin("alice", "svc-w", undefined, deps({}))).toBe(T);
  });

  it("refuses an assertion made before the client it issues to was revoked: its tokens would be revoked at birth", async () => {
    expect(await outcome(assertionOrigin("alice", "svc-w", T - 30, deps({ "svc-w": T - 10 })))).toBe("invalid_grant");
    // Undated, nothing shows it was made after.
    expect(await outcome(assertionOrigin("alice", "svc-w", undefined, deps({ "svc-w": T - 10 })))).toBe("invalid_grant");
    // Made after the revocation (its credentials rotated, say): the client's own again.
    expect(await assertionOrigin("alice", "svc-w", T - 5, deps({ "svc-w": T - 10 }))).toBe(T - 5);
    // Another client's revocation is nothing to it.
    expect(await assertionOrigin("alice", "svc-w", T - 30, deps({ "svc-v": T - 10 }))).toBe(T - 30);
  });

  it("refuses an assertion made before its user was revoked, as before", async () => {
    expect(await outcome(assertionOrigin("alice", "svc-w", T - 30, deps({ alice: T - 10 })))).toBe("invalid_grant");
    expect(await assertionOrigin("alice", "svc-w", T - 5, deps({ alice: T - 10 }))).toBe(T - 5);
  });

  it("refuses an assertion whose user is another client: the token would read as that client's own (RFC 9700 §4.15)", async () => {
    expect(await outcome(assertionOrigin("svc-v", "svc-w", T - 30, deps({})))).toBe("invalid_grant");
    // The client itself may be the subject: that token is its own.
    expect(await assertionOrigin("svc-w", "svc-w", T - 30, deps({}))).toBe(T - 30);
  });
});

describe("issueTokens", () => {
  /** Grant deps with a minter that records what it was asked to mint; `users` is the directory. */
  const minting = (users: readonly string[]) => {
    const minted: string[] = [];
    const grantDeps = {
      defaultTtl: 300,
      isUser: (sub: string) => users.includes(sub),
      minter: {
        mint: (input: { sub: string }) => {
          minted.push(input.sub);
          return Promise.resolve({ token: "t", jti: "j", exp: T + 300, expiresIn: 300, scope: "" });
        },
      },
    } as unknown as GrantDeps;
    return { minted, grantDeps };
  };
  const client = (client_id: string) => ({ client_id, grant_types: ["client_credentials"], scope: [], audience: [], access_token_format: {} }) as never;

  it("issues nothing to a client whose id is a user's: its own tokens would read as that user's (RFC 9700 §4.15)", async () => {
    const { minted, grantDeps } = minting(["alice"]);
    const own = { sub: "alice", client: client("alice"), scope: [], audience: [], grantType: "client_credentials" };
    expect(await issueTokens(own, grantDeps).catch((err: { code?: string }) => err.code)).toBe("unauthorized_client");
    expect(minted).toEqual([]);
    // Another client's token for the user alice is the user's, as it should be; and a client no user shares a name with gets its own.
    await issueTokens({ ...own, client: client("svc-w"), grantType: "urn:ietf:params:oauth:grant-type:jwt-bearer" }, grantDeps);
    await issueTokens({ ...own, sub: "svc-w", client: client("svc-w") }, grantDeps);
    expect(minted).toEqual(["alice", "svc-w"]);
  });

  it("refreshes no family of a client's own whose id is a user's: the refresh grant mints without issueTokens", async () => {
    const { minted, grantDeps } = minting(["alice"]);
    const family = { grant: { sub: "alice", client_id: "alice", scope: [], aud: [], family: "f", access_jti: "j0" } };
    const deps = { ...grantDeps, lookup: () => undefined, refresh: { check: () => Promise.resolve(family) } } as unknown as GrantDeps;
    const refresh = (clientId: string) => refreshToken.handle({ refresh_token: "str_x", scope: "" } as never, client(clientId), deps, "client_secret_basic");
    expect(await refresh("alice").catch((err: { code?: string }) => err.code)).toBe("unauthorized_client");
    expect(minted).toEqual([]);
  });
});

describe("narrowToClient", () => {
  const client = clientRecord("svc", { scope: ["read"], audience: ["api-2", "https://api.example"] });
  const request = (audience: string[], resource: string[]) => ({ audience, resource }) as unknown as TokenRequest__Output;
  const outcome = (audience: string[], resource: string[]): string | string[] => {
    try {
      return narrowToClient([], request(audience, resource), client).audience;
    } catch (err) {
      return (err as { code: string }).code;
    }
  };

  it("takes a resource that is an absolute URI, and a bare name only as an audience", () => {
    expect(outcome([], ["https://api.example"])).toEqual(["https://api.example"]);
    expect(outcome(["api-2"], [])).toEqual(["api-2"]);
  });

  it("refuses a resource that is not an absolute URI, or has a fragment, with invalid_target (RFC 8707 §2), even one the client may have", () => {
    expect(outcome([], ["api-2"])).toBe("invalid_target");
    expect(outcome([], ["https://api.example#admin"])).toBe("invalid_target");
    expect(outcome(["api-2"], ["/relative"])).toBe("invalid_target");
  });
});
