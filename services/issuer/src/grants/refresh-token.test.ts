/**
 * The refresh_token grant over a real refresh token store (NATS KV), with the minter replaced by one that records
 * what it is asked: a family the dedicated token issuer started stays within what its admin manages now, and a
 * refusal's detail goes to the log, never to the caller and never with the token.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnsecuredJWT } from "jose";
import { OAuthError } from "@sts/errors";
import type { ClientRecord } from "@sts/client-auth";
import { JWT_BEARER } from "@sts/jwt";
import { connectNats, openBucket } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import type { TokenRequest__Output } from "@sts/proto";
import { startNats } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
// The library's own test fixture: not part of its build, so reached by path.
import { clientRecord as record } from "../../../../libs/client-auth/src/record.fixture.js";
import type { MintInput } from "../mint.js";
import { RefreshTokens } from "../refresh-tokens.js";
import type { FamilyRevocation } from "../refresh-tokens.js";
import type { GrantDeps } from "./grant.js";
import { jwtBearer } from "./jwt-bearer.js";
import { refreshToken } from "./refresh-token.js";

const ADMIN = "admin:test/vo_1";
const MANAGED = "localhost:test/initialize_flow";
const MANAGES = { audience: ["storage", "archive"], scope: ["read:/home", "openid"] };
const now = (): number => Math.floor(Date.now() / 1000);

let server: NatsServerHandle;
let nats: NatsHandle;
let bucketCount = 0;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "refresh-grant-test" });
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.stop();
});

const adminWith = (manages: ClientRecord["manages"]): ClientRecord =>
  record(ADMIN, { admin: true, token_endpoint_auth_method: "private_key_jwt", ...(manages && { manages }) });

const managed = record(MANAGED, {
  admin_client_id: ADMIN,
  grant_types: ["refresh_token"],
  scope: ["read:/home", "openid"],
  audience: ["storage", "archive"],
});

/** Grant deps over a registry the test edits, a real refresh store, and a minter that keeps what it is asked. */
async function setup() {
  const minted: MintInput[] = [];
  const logged: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const revocations: FamilyRevocation[] = [];
  const registry = new Map([adminWith(MANAGES), managed].map((c) => [c.client_id, c]));
  const deps = {
    minter: {
      mint: (input: MintInput) => {
        minted.push(input);
        return Promise.resolve({ token: "t", jti: randomUUID(), exp: now() + 300, expiresIn: 300, scope: input.scope.join(" ") });
      },
      idToken: () => ({ token: "id", jti: "id-jti" }),
    },
    defaultTtl: 300,
    now,
    assertions: {
      lookup: (id: string) => registry.get(id),
      recordJti: () => Promise.resolve(true),
      audiences: [],
      now,
      maxLifetime: 300,
      clockTolerance: 30,
      maxBytes: 8192,
    },
    refresh: new RefreshTokens(await openBucket(nats, `refresh_grant_test_${++bucketCount}`), now),
    lookup: (id: string) => registry.get(id),
    recordDtiJti: () => Promise.resolve(true),
    subjectRevokedAt: () => Promise.resolve(undefined),
    isUser: () => false,
    recordFamilyRevocation: (r: FamilyRevocation) => {
      revocations.push(r);
      return Promise.resolve();
    },
    logger: {
      info: (fields: Record<string, unknown>, message: string) => logged.push({ fields, message }),
      debug: (fields: Record<string, unknown>, message: string) => logged.push({ fields, message }),
    },
  } as unknown as GrantDeps;
  return { deps, minted, logged, registry, revocations };
}

const tokenRequest = (over: Partial<TokenRequest__Output>): TokenRequest__Output =>
  ({ grant_type: "refresh_token", refresh_token: "", assertion: "", scope: "", audience: [], resource: [], ...over }) as TokenRequest__Output;

/** The admin starts a flow for its managed client (dedicated token issuer): the family's first refresh token. */
async function dtiFamily(deps: GrantDeps): Promise<string> {
  const assertion = new UnsecuredJWT({ iss: MANAGED, sub: "jeff", jti: randomUUID(), iat: now(), exp: now() + 60, scope: "read:/home openid" }).encode();
  const admin = deps.lookup(ADMIN) as ClientRecord;
  const r = await jwtBearer.handle(
    tokenRequest({ grant_type: JWT_BEARER.GRANT_TYPE, assertion, audience: ["storage", "archive"] }),
    admin,
    deps,
    "private_key_jwt",
  );
  expect(r.refresh_token).toMatch(/^str_/);
  return r.refresh_token as string;
}

/** [code, description] of a refusal, or what was minted; `over` adds request parameters. */
async function refresh(
  deps: GrantDeps,
  minted: MintInput[],
  token: string,
  client: ClientRecord = managed,
  over: Partial<TokenRequest__Output> = {},
): Promise<MintInput | [string, string]> {
  try {
    await refreshToken.handle(tokenRequest({ ...over, refresh_token: token }), client, deps, "client_secret_basic");
  } catch (err) {
    if (err instanceof OAuthError) return [err.code, err.description];
    throw err;
  }
  return minted[minted.length - 1] as MintInput;
}

/** A family the managed client started itself for jeff (scope `openid`), reaching `aud`; its first refresh token. */
async function ownFamily(deps: GrantDeps, aud: string[]): Promise<string> {
  const own = await deps.refresh.issue(
    { client_id: MANAGED, sub: "jeff", scope: ["openid"], aud, access_jti: randomUUID(), access_exp: now() + 300 },
    3600,
    deps.refresh.newFamily(),
  );
  return own.token;
}

describe("a refresh family the dedicated token issuer started, within what its admin manages now", () => {
  it("refreshes what the admin still manages", async () => {
    const { deps, minted } = await setup();
    const rt = await dtiFamily(deps);
    expect(await refresh(deps, minted, rt)).toMatchObject({
      clientId: MANAGED,
      audience: ["storage", "archive"],
      scope: ["read:/home", "openid"],
      // Its token.refreshed event names the admin, as the family's token.issued did.
      adminClientId: ADMIN,
    });
  });

  it("leaves out an audience or scope taken out of the admin's manages since the family started", async () => {
    const { deps, minted, registry } = await setup();
    const rt = await dtiFamily(deps);
    registry.set(ADMIN, adminWith({ audience: ["storage"], scope: ["openid"] }));
    expect(await refresh(deps, minted, rt)).toMatchObject({ audience: ["storage"], scope: ["openid"] });
  });

  it("refuses when no audience of the family is left to the admin (invalid_target), or nothing at all once the admin is gone", async () => {
    const { deps, minted, registry } = await setup();
    const rt = await dtiFamily(deps);
    registry.set(ADMIN, adminWith({ audience: ["elsewhere"], scope: MANAGES.scope }));
    expect(await refresh(deps, minted, rt)).toEqual(["invalid_target", "the refresh token's audience is no longer allowed for this client"]);
    // Refused before the rotation: the token is still the family's newest, and works once the admin manages it again.
    registry.set(ADMIN, adminWith(MANAGES));
    const again = await refreshToken.handle(tokenRequest({ refresh_token: rt }), managed, deps, "client_secret_basic");
    // An admin gone leaves nothing at all: the scope is refused first, as at issuance.
    registry.delete(ADMIN);
    expect(await refresh(deps, minted, again.refresh_token as string)).toEqual([
      "invalid_scope",
      "the refresh token's scope is no longer allowed for this client",
    ]);
  });

  it("holds a family the client started itself to what the admin that registered the client gives it now", async () => {
    const { deps, minted, registry } = await setup();
    const own = await refresh(deps, minted, await ownFamily(deps, ["archive"]));
    expect(own).toMatchObject({ audience: ["archive"], scope: ["openid"] });
    // The client's own grant, not an admin's signed request: its events name no admin.
    expect(own).not.toHaveProperty("adminClientId");
    // The operator took the admin's manages away (a compromise, say): the clients it registered get nothing more.
    registry.set(ADMIN, adminWith(undefined));
    expect(await refresh(deps, minted, await ownFamily(deps, ["archive"]))).toEqual([
      "invalid_scope",
      "the refresh token's scope is no longer allowed for this client",
    ]);
  });
});

describe("audience and resource on a refresh (RFC 8707 §2.2)", () => {
  it("mints for the requested audiences of the family only, not for every audience it reaches", async () => {
    const { deps, minted } = await setup();
    const rt = await ownFamily(deps, ["storage", "archive"]);
    expect(await refresh(deps, minted, rt, managed, { audience: ["archive"] })).toMatchObject({ audience: ["archive"] });
  });

  it("refuses an audience the family does not reach, and a malformed resource, with invalid_target, and the token stays usable", async () => {
    const { deps, minted, revocations } = await setup();
    const rt = await ownFamily(deps, ["storage"]);
    expect(await refresh(deps, minted, rt, managed, { audience: ["archive"] })).toEqual([
      "invalid_target",
      "no requested audience is within the refresh token's",
    ]);
    expect(await refresh(deps, minted, rt, managed, { resource: ["storage"] })).toEqual([
      "invalid_target",
      "resource must be an absolute URI without a fragment (RFC 8707 section 2)",
    ]);
    expect(minted).toEqual([]);
    expect(revocations).toEqual([]);
    expect(await refresh(deps, minted, rt)).toMatchObject({ audience: ["storage"] });
  });
});

describe("scope on a refresh (RFC 6749 §6)", () => {
  it("refuses a requested scope the family was not granted, even beside one it was (invalid_scope), and the token stays usable", async () => {
    const { deps, minted, revocations } = await setup();
    const rt = await ownFamily(deps, ["storage"]);
    expect(await refresh(deps, minted, rt, managed, { scope: "openid read:/home" })).toEqual(["invalid_scope", "requested scope exceeds the refresh token's"]);
    expect(minted).toEqual([]);
    expect(revocations).toEqual([]);
    expect(await refresh(deps, minted, rt, managed, { scope: "openid" })).toMatchObject({ scope: ["openid"] });
  });
});

describe("a refused refresh token", () => {
  it("answers another client's token as an unknown one, and logs why without the token", async () => {
    const { deps, minted, logged, revocations } = await setup();
    const rt = await dtiFamily(deps);
    const other = record("another-client", { grant_types: ["refresh_token"], scope: ["openid"], audience: ["storage"] });
    expect(await refresh(deps, minted, rt, other)).toEqual(["invalid_grant", "refresh token is invalid"]);
    expect(await refresh(deps, minted, "str_unknown", other)).toEqual(["invalid_grant", "refresh token is invalid"]);
    expect(logged[0]).toEqual({
      fields: { client_id: "another-client", detail: "refresh token presented by another client than its own" },
      message: "refresh token refused",
    });
    expect(JSON.stringify(logged)).not.toContain(rt);
    expect(revocations).toEqual([]);
    // Its own client still refreshes with it: nothing was revoked.
    expect(await refresh(deps, minted, rt)).toMatchObject({ clientId: MANAGED });
  });
});

describe("no more scopes than a token here may carry (review)", () => {
  it("refuses a refresh whose family's broad scope meets more than 64 narrower ones the client may have now (invalid_scope)", async () => {
    const { deps, minted, registry } = await setup();
    const rt = await dtiFamily(deps);
    // The client now has 65 narrower read scopes under the family's read:/home: one token cannot carry them all.
    const narrower = Array.from({ length: 65 }, (_, i) => `read:/home/d${i}`);
    const now65 = { ...managed, scope: narrower };
    registry.set(MANAGED, now65);
    expect(await refresh(deps, minted, rt, now65)).toEqual(["invalid_scope", "the scopes granted would be more than the 64 a token may carry: ask for fewer"]);
    // Refused before the rotation: asking for fewer is still possible with the same token.
    expect(await refresh(deps, minted, rt, now65, { scope: "read:/home/d1 read:/home/d2" })).toMatchObject({ scope: ["read:/home/d1", "read:/home/d2"] });
  });
});
