/**
 * Mint's handling of `lineage_kids`, the keys of this issuer that signed the
 * tokens a new one is exchanged from: a malformed list is invalid_request,
 * one naming a withdrawn key is refused (the token would be revoked at
 * birth), and the minter writes the rest into the token and its event,
 * leaving out the kid that signs it.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from "jose";
import type { ClientRecord } from "@sts/client-auth";
import { OAuthError, unavailable } from "@sts/errors";
import { MAX_KID_CHARS, MAX_LINEAGE, importSigningKey } from "@sts/jwt";
import type { AccessTokenClaims } from "@sts/jwt";
import { SigningKeyRing, memoryKeyStore, parseMasterKey } from "@sts/keys";
import { EVENT_TYPES } from "@sts/nats";
import type { EventPublisher } from "@sts/nats";
import { TokenMinter } from "./mint.js";
import type { MintInput, TokenEventData } from "./mint.js";
import type { OpaqueTokens } from "./opaque-tokens.js";
import { checkLineageKids } from "./service.js";
import { issueTokens } from "./grants/issue-tokens.js";
import type { GrantDeps } from "./grants/grant.js";

const STS = "https://sts.test";
const T = 1_800_000_000;

/** Revocations in which `iss` withdrew the keys `kids`. */
const withdrawn = (iss: string, ...kids: string[]) => ({ isKeyWithdrawn: (i: string, k: string) => i === iss && kids.includes(k) });

/** The OAuth code and description a call fails with, or "ok". */
function refusal(fn: () => unknown): string | [string, string] {
  try {
    fn();
  } catch (err) {
    if (err instanceof OAuthError) return [err.code, err.description];
    throw err;
  }
  return "ok";
}

describe("checkLineageKids (MintRequest.lineage_kids)", () => {
  it("takes an empty list as none (another issuer's subject token, an exchanger of an earlier release) and a well-formed one as is", () => {
    expect(checkLineageKids([], STS, withdrawn(STS, "k1"))).toEqual([]);
    expect(checkLineageKids(["k2", "k1"], STS, withdrawn(STS, "k0"))).toEqual(["k2", "k1"]);
    const most = Array.from({ length: MAX_LINEAGE }, (_, i) => `k${i}`);
    expect(checkLineageKids(most, STS, withdrawn(STS))).toEqual(most);
  });

  it("refuses a malformed list with invalid_request, never echoing it", () => {
    const tooMany = Array.from({ length: MAX_LINEAGE + 1 }, (_, i) => `k${i}`);
    for (const kids of [[""], ["k1", "k1"], ["k".repeat(MAX_KID_CHARS + 1)], tooMany]) {
      expect(refusal(() => checkLineageKids(kids, STS, withdrawn(STS)))).toEqual([
        "invalid_request",
        `lineage_kids must be at most ${MAX_LINEAGE} distinct kids of at most ${MAX_KID_CHARS} characters`,
      ]);
    }
  });

  it("refuses a list naming a key this issuer withdrew, as the exchanger refuses a revoked subject token; another issuer's kid of that name is another key", () => {
    expect(refusal(() => checkLineageKids(["k2", "k1"], STS, withdrawn(STS, "k1")))).toEqual([
      "invalid_request",
      "a token this exchange rests on (the subject or actor token, or one they were made from) was signed with a withdrawn key",
    ]);
    expect(checkLineageKids(["k2", "k1"], STS, withdrawn("https://other.test", "k1"))).toEqual(["k2", "k1"]);
  });

  it("passes on revocations too old to trust (temporarily_unavailable) rather than sign", () => {
    const stale = {
      isKeyWithdrawn: (): boolean => {
        throw unavailable("revocations too old");
      },
    };
    expect(refusal(() => checkLineageKids(["k1"], STS, stale))).toEqual(["temporarily_unavailable", "revocations too old"]);
  });
});

describe("the minter and lineage_kids", () => {
  async function minter(signingKid: string) {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const key = importSigningKey(await exportJWK(privateKey), signingKid, "ES256");
    const published: TokenEventData[] = [];
    const stored: AccessTokenClaims[] = [];
    const events = {
      publish: (_type: string, data: TokenEventData) => {
        published.push(data);
        return Promise.resolve({ id: "e", seq: published.length, duplicate: false });
      },
    } as unknown as EventPublisher;
    const opaque = {
      create: (claims: AccessTokenClaims) => {
        stored.push(claims);
        return Promise.resolve("sto_test");
      },
    } as unknown as OpaqueTokens;
    const ring = { signingKey: () => key, maxTokenLifetime: 3600 } as unknown as SigningKeyRing;
    return { minter: new TokenMinter({ issuer: STS, ring, opaque, events, now: () => T }), published, stored };
  }

  /** An exchange's Mint for svc-a, made from a token exchanged before. */
  const exchange = (lineageKids: readonly string[], format: "jwt" | "opaque" = "jwt"): MintInput => ({
    sub: "alice",
    clientId: "svc-a",
    audience: ["svc-b"],
    scope: ["b"],
    ttl: 60,
    lineage: ["at2", "at1"],
    lineageKids,
    format,
    grantType: "urn:ietf:params:oauth:grant-type:token-exchange",
    eventType: EVENT_TYPES.TOKEN_EXCHANGED,
  });

  it("writes the keys other than its own into the token and its token.exchanged event", async () => {
    const { minter: m, published } = await minter("k3");
    const { token } = await m.mint(exchange(["k3", "k2", "k1"]));
    expect(decodeProtectedHeader(token).kid).toBe("k3");
    expect(decodeJwt(token).lineage_kids).toEqual(["k2", "k1"]);
    expect(published[0]).toMatchObject({ kid: "k3", lineage_kids: ["k2", "k1"] });
  });

  it("leaves the claim out when its own key signed the whole chain: no rotation, no larger token", async () => {
    const { minter: m, published } = await minter("k1");
    const { token } = await m.mint(exchange(["k1"]));
    expect(decodeJwt(token)).not.toHaveProperty("lineage_kids");
    expect(published[0]).not.toHaveProperty("lineage_kids");
    const { token: first } = await m.mint({ ...exchange([]), lineage: [] });
    expect(decodeJwt(first)).not.toHaveProperty("lineage_kids");
  });

  it("keeps every key for an opaque token, which no key signs", async () => {
    const { minter: m, published, stored } = await minter("k3");
    await m.mint(exchange(["k3", "k1"], "opaque"));
    expect(stored[0]?.lineage_kids).toEqual(["k3", "k1"]);
    expect(published[0]).toMatchObject({ lineage_kids: ["k3", "k1"] });
    expect(published[0]).not.toHaveProperty("kid");
  });
});

describe("the minter and the key ring's maxTokenLifetime", () => {
  const BOUND = 300;
  const policy = { rotateAfter: 86_400, maxTokenLifetime: BOUND, clockTolerance: 60 };

  /** A real ring (its keys sealed under a master key) and the minter on it, as main.ts wires them. */
  async function minterOnRing(): Promise<{ minter: TokenMinter; ring: SigningKeyRing }> {
    const ring = new SigningKeyRing({
      store: memoryKeyStore(),
      algorithm: "ES256",
      policy,
      masterKey: parseMasterKey(randomBytes(32).toString("base64url")),
      now: () => T,
    });
    await ring.init();
    const events = { publish: () => Promise.resolve({ id: "e", seq: 1, duplicate: false }) } as unknown as EventPublisher;
    return { minter: new TokenMinter({ issuer: STS, ring, opaque: {} as OpaqueTokens, events, now: () => T }), ring };
  }

  /** A client registered (RFC 7591) while the limit was an hour, its record keeping that TTL after the operator lowered it. */
  const registeredEarlier: ClientRecord = {
    client_id: "svc-old",
    token_endpoint_auth_method: "client_secret_basic",
    grant_types: ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
    scope: ["openid"],
    audience: ["api"],
    access_token_format: {},
    access_token_ttl: 3600,
    internal: false,
    created_at: 0,
    updated_at: 0,
  };

  it("signs access and ID tokens for a client whose stored TTL is above the bound with exp - iat equal to the bound: never past the key's publication or a withdrawn kid's record", async () => {
    const { minter, ring } = await minterOnRing();
    const deps = { minter, defaultTtl: 60, now: () => T, isUser: () => false } as unknown as GrantDeps;
    const response = await issueTokens(
      { sub: "alice", client: registeredEarlier, scope: ["openid"], audience: ["api"], grantType: registeredEarlier.grant_types[0] as string, user: {} },
      deps,
    );
    expect(response.expires_in).toBe(String(BOUND));
    const jwks = createLocalJWKSet(ring.jwks());
    const currentDate = new Date(T * 1000);
    const access = await jwtVerify(response.access_token ?? "", jwks, { issuer: STS, audience: "api", typ: "at+jwt", currentDate });
    expect((access.payload.exp ?? 0) - (access.payload.iat ?? 0)).toBe(BOUND);
    const id = await jwtVerify(response.id_token ?? "", jwks, { issuer: STS, audience: "svc-old", currentDate });
    expect((id.payload.exp ?? 0) - (id.payload.iat ?? 0)).toBe(BOUND);
  });

  it("keeps a TTL under the bound, and an exchange's notAfter under both", async () => {
    const { minter } = await minterOnRing();
    const input: MintInput = {
      sub: "alice",
      clientId: "svc-a",
      audience: ["api"],
      scope: [],
      ttl: 120,
      format: "jwt",
      grantType: "client_credentials",
      eventType: EVENT_TYPES.TOKEN_ISSUED,
    };
    expect(await minter.mint(input)).toMatchObject({ exp: T + 120, expiresIn: 120 });
    expect(await minter.mint({ ...input, ttl: 3600, notAfter: T + 90 })).toMatchObject({ exp: T + 90, expiresIn: 90 });
    expect(decodeJwt(minter.idToken({ sub: "alice", clientId: "svc-a", ttl: 120 }).token)).toMatchObject({ iat: T, exp: T + 120 });
  });
});
