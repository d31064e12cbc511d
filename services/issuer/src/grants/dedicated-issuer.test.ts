/**
 * The dedicated token issuer (OA4MP) and the signed jwt-bearer grant, with the minter replaced by one that records
 * what it is asked: the admin's current `manages` bounds what it mints for its clients, the issuance names the admin
 * and the assertion's jti, and a subject no RevokeSubject could name is refused.
 */
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import { OAuthError } from "@sts/errors";
import type { ClientRecord } from "@sts/client-auth";
// The library's own test fixture: not part of its build, so reached by path.
import { clientRecord as record } from "../../../../libs/client-auth/src/record.fixture.js";
import { JWT_BEARER, MAX_SUBJECT_BYTES } from "@sts/jwt";
import type { TokenRequest__Output } from "@sts/proto";
import type { MintInput } from "../mint.js";
import type { GrantDeps } from "./grant.js";
import { jwtBearer } from "./jwt-bearer.js";
import { clientCredentials } from "./client-credentials.js";

const T = 1_800_000_000;
const ISSUER = "https://sts.test";
const ADMIN = "admin:test/vo_1";
const MANAGED = "localhost:test/initialize_flow";
const SIGNER = "signer";

/** The admin as the operator configured it first: it gave its client storage and archive, read and write. */
const MANAGES = { audience: ["storage", "archive"], scope: ["read:/home", "write:/home", "openid"] };
const managed = record(MANAGED, {
  admin_client_id: ADMIN,
  scope: ["read:/home", "write:/home", "openid"],
  scope_templates: { "read:": ["read:/home/public"], "write:": ["write:/home/{sub}/data"] },
  audience: ["storage", "archive"],
});

let signingKey: CryptoKey;
let signer: ClientRecord;

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  signingKey = pair.privateKey;
  signer = record(SIGNER, {
    token_endpoint_auth_method: "private_key_jwt",
    jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" }] },
    grant_types: [JWT_BEARER.GRANT_TYPE],
    scope: ["read"],
    audience: ["storage"],
  });
});

/** Grant deps over a registry holding `admin` and `clients` (its client and the signer); `minted` is what the minter was asked. */
function setup(admin: ClientRecord, clients: readonly ClientRecord[] = [managed, signer], users: readonly string[] = []) {
  const minted: MintInput[] = [];
  const jtis = new Set<string>();
  const registry = new Map([admin, ...clients].map((c) => [c.client_id, c]));
  const recordJti = (clientId: string, jti: string): Promise<boolean> => {
    const k = `${clientId}\0${jti}`;
    const fresh = !jtis.has(k);
    jtis.add(k);
    return Promise.resolve(fresh);
  };
  const deps = {
    minter: {
      mint: (input: MintInput) => {
        minted.push(input);
        return Promise.resolve({ token: "t", jti: "j", exp: T + 300, expiresIn: 300, scope: input.scope.join(" ") });
      },
      idToken: () => ({ token: "id", jti: "id-jti" }),
    },
    defaultTtl: 300,
    now: () => T,
    assertions: {
      lookup: (id: string) => registry.get(id),
      recordJti,
      audiences: [ISSUER],
      now: () => T,
      maxLifetime: 300,
      clockTolerance: 30,
      maxBytes: 8192,
    },
    lookup: (id: string) => registry.get(id),
    recordDtiJti: recordJti,
    subjectRevokedAt: () => Promise.resolve(undefined),
    isUser: (sub: string) => users.includes(sub),
  } as unknown as GrantDeps;
  return { deps, minted, jtis };
}

const request = (assertion: string, over: Partial<TokenRequest__Output> = {}): TokenRequest__Output =>
  ({ grant_type: JWT_BEARER.GRANT_TYPE, assertion, scope: "", audience: [], resource: [], ...over }) as TokenRequest__Output;

const unsigned = (over: Record<string, unknown> = {}): string =>
  new UnsecuredJWT({ iss: MANAGED, sub: "jeff", jti: randomUUID(), iat: T, exp: T + 60, ...over }).encode();

/** [code, description] of a refusal, or what was minted. */
async function outcome(p: Promise<unknown>, minted: MintInput[]): Promise<MintInput | [string, string]> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OAuthError) return [err.code, err.description];
    throw err;
  }
  return minted[minted.length - 1] as MintInput;
}

const adminWith = (manages: ClientRecord["manages"]): ClientRecord =>
  record(ADMIN, { admin: true, token_endpoint_auth_method: "private_key_jwt", ...(manages && { manages }) });

const dti = (admin: ClientRecord, assertion: string, over: Partial<TokenRequest__Output> = {}) => {
  const { deps, minted } = setup(admin);
  return outcome(jwtBearer.handle(request(assertion, over), admin, deps, "private_key_jwt"), minted);
};

describe("the dedicated token issuer within the admin's current manages", () => {
  it("mints what the managed client may have while the admin still manages it", async () => {
    const admin = adminWith(MANAGES);
    expect(await dti(admin, unsigned({ scope: "read: write: openid" }), { audience: ["archive"] })).toMatchObject({
      clientId: MANAGED,
      audience: ["archive"],
      scope: ["read:/home/public", "write:/home/jeff/data", "openid"],
    });
  });

  it("refuses an audience taken out of the admin's manages since it registered the client (invalid_target)", async () => {
    const admin = adminWith({ ...MANAGES, audience: ["storage"] });
    expect(await dti(admin, unsigned({ scope: "openid" }), { audience: ["archive"] })).toEqual([
      "invalid_target",
      "no requested audience is allowed for this client",
    ]);
    // What it still manages, it still mints.
    expect(await dti(admin, unsigned({ scope: "openid" }), { audience: ["storage", "archive"] })).toMatchObject({ audience: ["storage"] });
  });

  it("leaves out scopes, concrete or from a template, taken out of the admin's manages, and refuses when nothing is left", async () => {
    const admin = adminWith({ ...MANAGES, scope: ["read:/home", "openid"] });
    expect(await dti(admin, unsigned({ scope: "read: write: openid" }))).toMatchObject({ scope: ["read:/home/public", "openid"] });
    expect(await dti(admin, unsigned({ scope: "write:" }))).toEqual(["invalid_scope", "requested scope is not allowed for this client"]);
    expect(await dti(admin, unsigned({ scope: "write:/home/jeff" }))).toEqual(["invalid_scope", "requested scope is not allowed for this client"]);
    // A narrower manages narrows the template's expansion too: write:/home/{sub}/data within write:/home/jeff only for jeff.
    const narrow = adminWith({ ...MANAGES, scope: ["write:/home/jeff"] });
    expect(await dti(narrow, unsigned({ scope: "write:" }))).toMatchObject({ scope: ["write:/home/jeff/data"] });
    expect(await dti(narrow, unsigned({ sub: "bob", scope: "write:" }))).toEqual(["invalid_scope", "requested scope is not allowed for this client"]);
  });

  it("mints nothing for an admin whose manages was taken away", async () => {
    expect(await dti(adminWith(undefined), unsigned({ scope: "openid" }))).toEqual(["invalid_scope", "requested scope is not allowed for this client"]);
    expect(await dti(adminWith(undefined), unsigned())).toEqual(["invalid_target", "no requested audience is allowed for this client"]);
  });
});

describe("an assertion's jti, spent only once everything else was checked", () => {
  const signed = (jti: string) =>
    new SignJWT({ iss: SIGNER, sub: "jeff", aud: ISSUER, iat: T, exp: T + 60, jti }).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(signingKey);

  it("stays unspent when the admin's request is refused for its scope or audience, then serves once", async () => {
    const admin = adminWith(MANAGES);
    const { deps, minted, jtis } = setup(admin);
    const assertion = unsigned();
    const send = (over: Partial<TokenRequest__Output>) => outcome(jwtBearer.handle(request(assertion, over), admin, deps, "private_key_jwt"), minted);
    expect(await send({ scope: "admin" })).toEqual(["invalid_scope", "requested scope is not allowed for this client"]);
    expect(await send({ scope: "openid", audience: ["elsewhere"] })).toEqual(["invalid_target", "no requested audience is allowed for this client"]);
    expect(jtis.size).toBe(0);
    expect(await send({ scope: "openid", audience: ["storage"] })).toMatchObject({ audience: ["storage"], adminClientId: ADMIN });
    expect(await send({ scope: "openid", audience: ["storage"] })).toEqual(["invalid_grant", "assertion replayed (jti already used)"]);
    expect(minted).toHaveLength(1);
  });

  it("stays unspent when a client's signed request is refused for its scope or audience, then serves once", async () => {
    const { deps, minted, jtis } = setup(adminWith(MANAGES));
    const assertion = await signed(randomUUID());
    const send = (over: Partial<TokenRequest__Output>) => outcome(jwtBearer.handle(request(assertion, over), signer, deps, "private_key_jwt"), minted);
    expect(await send({ scope: "write" })).toEqual(["invalid_scope", "requested scope is not allowed for this client"]);
    expect(await send({ scope: "read", audience: ["archive"] })).toEqual(["invalid_target", "no requested audience is allowed for this client"]);
    expect(jtis.size).toBe(0);
    expect(await send({ scope: "read" })).toMatchObject({ clientId: SIGNER, scope: ["read"] });
    expect(await send({ scope: "read" })).toEqual(["invalid_grant", "assertion replayed (jti already used)"]);
    expect(minted).toHaveLength(1);
  });

  it("is refused, and nothing minted, when the replay store cannot answer (temporarily_unavailable)", async () => {
    const admin = adminWith(MANAGES);
    const { deps, minted } = setup(admin);
    const down = () => Promise.reject(new Error("bucket gone"));
    const broken = { ...deps, recordDtiJti: down, assertions: { ...deps.assertions, recordJti: down } } as GrantDeps;
    expect(await outcome(jwtBearer.handle(request(unsigned({ scope: "openid" })), admin, broken, "private_key_jwt"), minted)).toEqual([
      "temporarily_unavailable",
      "replay cache unavailable",
    ]);
    expect(await outcome(jwtBearer.handle(request(await signed(randomUUID()), { scope: "read" }), signer, broken, "private_key_jwt"), minted)).toEqual([
      "temporarily_unavailable",
      "replay cache unavailable",
    ]);
    expect(minted).toEqual([]);
  });
});

describe("whose request a jwt-bearer token was, in its event", () => {
  it("names the admin and the unsigned assertion's jti for the dedicated issuer", async () => {
    const jti = randomUUID();
    expect(await dti(adminWith(MANAGES), unsigned({ jti, scope: "openid" }))).toMatchObject({
      clientId: MANAGED,
      grantType: JWT_BEARER.GRANT_TYPE,
      adminClientId: ADMIN,
      assertionJti: jti,
    });
  });

  it("names the signed assertion's jti and no admin for the client's own assertion", async () => {
    const { deps, minted } = setup(adminWith(MANAGES));
    const jti = randomUUID();
    const assertion = await new SignJWT({ iss: SIGNER, sub: "jeff", aud: ISSUER, iat: T, exp: T + 60, jti })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .sign(signingKey);
    const issued = await outcome(jwtBearer.handle(request(assertion, { scope: "read" }), signer, deps, "private_key_jwt"), minted);
    expect(issued).toMatchObject({ clientId: SIGNER, sub: "jeff", assertionJti: jti });
    expect((issued as MintInput).adminClientId).toBeUndefined();
  });
});

describe("a subject RevokeSubject could not name", () => {
  const long = "u".repeat(MAX_SUBJECT_BYTES + 1);

  it("is refused in the admin's unsigned assertion before its jti is spent (invalid_grant)", async () => {
    const admin = adminWith(MANAGES);
    const { deps, minted, jtis } = setup(admin);
    const jti = randomUUID();
    expect(await outcome(jwtBearer.handle(request(unsigned({ sub: long, jti, scope: "openid" })), admin, deps, "private_key_jwt"), minted)).toEqual([
      "invalid_grant",
      `assertion rejected: sub is longer than ${MAX_SUBJECT_BYTES} bytes`,
    ]);
    expect(jtis.size).toBe(0);
    expect(await dti(admin, unsigned({ sub: "u".repeat(MAX_SUBJECT_BYTES), scope: "openid" }))).toMatchObject({ sub: "u".repeat(MAX_SUBJECT_BYTES) });
  });

  it("is refused in a client's signed assertion (invalid_grant)", async () => {
    const { deps, minted } = setup(adminWith(MANAGES));
    const assertion = await new SignJWT({ iss: SIGNER, sub: long, aud: ISSUER, iat: T, exp: T + 60, jti: randomUUID() })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .sign(signingKey);
    expect(await outcome(jwtBearer.handle(request(assertion, { scope: "read" }), signer, deps, "private_key_jwt"), minted)).toEqual([
      "invalid_grant",
      `assertion rejected: sub is longer than ${MAX_SUBJECT_BYTES} bytes`,
    ]);
    expect(minted).toEqual([]);
  });
});

describe("a client's own grants within the current manages of the admin that registered it", () => {
  const own = (admin: ClientRecord, client: ClientRecord, over: Partial<TokenRequest__Output> = {}) => {
    const { deps, minted } = setup(admin);
    const req = { grant_type: "client_credentials", scope: "read:/home openid", audience: [], resource: [], ...over } as TokenRequest__Output;
    return outcome(clientCredentials.handle(req, client, deps, "client_secret_basic"), minted);
  };

  it("gets what the admin still manages, and nothing once the admin's manages is gone", async () => {
    expect(await own(adminWith(MANAGES), managed)).toMatchObject({ audience: ["storage"], scope: ["read:/home", "openid"] });
    // The operator narrowed the admin (a compromise, say): the client it registered is narrowed with it.
    expect(await own(adminWith({ audience: ["archive"], scope: ["openid"] }), managed)).toMatchObject({ audience: ["archive"], scope: ["openid"] });
    expect(await own(adminWith(undefined), managed)).toEqual(["invalid_scope", "requested scope is not allowed for this client"]);
    expect(await own(adminWith(undefined), managed, { scope: "" })).toEqual(["invalid_target", "no requested audience is allowed for this client"]);
  });

  it("keeps a config-declared client's allowance from the file, whoever manages it", async () => {
    const declared = { ...managed, seed_digest: "digest" };
    expect(await own(adminWith(undefined), declared)).toMatchObject({ audience: ["storage"], scope: ["read:/home", "openid"] });
  });
});

describe("an assertion's jti, left unspent by a request refused for the token it asked (review)", () => {
  it("stays unspent when the audiences asked take different token formats (invalid_target), then serves once", async () => {
    const admin = adminWith(MANAGES);
    const mixed = { ...managed, access_token_format: { archive: "opaque" as const } };
    const { deps, minted, jtis } = setup(admin, [mixed, signer]);
    const assertion = unsigned({ scope: "openid" });
    const send = (audience: string[]) => outcome(jwtBearer.handle(request(assertion, { audience }), admin, deps, "private_key_jwt"), minted);
    expect(await send(["storage", "archive"])).toEqual([
      "invalid_target",
      "these audiences take different token formats (jwt and opaque); request a token for each separately",
    ]);
    expect(jtis.size).toBe(0);
    expect(await send(["storage"])).toMatchObject({ audience: ["storage"], format: "jwt" });
    expect(minted).toHaveLength(1);
  });

  it("stays unspent when a client's signed request asks audiences of different formats, then serves once", async () => {
    const twoFormats = { ...signer, audience: ["storage", "archive"], access_token_format: { archive: "opaque" as const } };
    const { deps, minted, jtis } = setup(adminWith(MANAGES), [managed, twoFormats]);
    const assertion = await new SignJWT({ iss: SIGNER, sub: "jeff", aud: ISSUER, iat: T, exp: T + 60, jti: randomUUID() })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .sign(signingKey);
    const send = (audience: string[]) =>
      outcome(jwtBearer.handle(request(assertion, { scope: "read", audience }), twoFormats, deps, "private_key_jwt"), minted);
    expect(await send(["storage", "archive"])).toEqual([
      "invalid_target",
      "these audiences take different token formats (jwt and opaque); request a token for each separately",
    ]);
    expect(jtis.size).toBe(0);
    expect(await send(["archive"])).toMatchObject({ audience: ["archive"], format: "opaque" });
  });

  it("stays unspent when the token would be a user-named client's own (unauthorized_client)", async () => {
    const admin = adminWith(MANAGES);
    const { deps, minted, jtis } = setup(admin, [managed, signer], [MANAGED]);
    expect(await outcome(jwtBearer.handle(request(unsigned({ sub: MANAGED, scope: "openid" })), admin, deps, "private_key_jwt"), minted)).toEqual([
      "unauthorized_client",
      "this client's id is also a user's here: its own tokens would read as that user's",
    ]);
    expect(jtis.size).toBe(0);
    expect(minted).toEqual([]);
  });
});

/** `value` with every character outside printable ASCII written as its `\uXXXX` escape, for a test name. */
const escaped = (value: string): string => value.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

describe("a subject holding a control character or broken UTF-16 (review)", () => {
  for (const sub of ["jeff\u0000", "jeff\nadmin", "jeff\u0085", "\u007f", "jeff\ud800"]) {
    it(`is refused in the admin's unsigned assertion before its jti is spent: ${escaped(sub)} (invalid_grant)`, async () => {
      const admin = adminWith(MANAGES);
      const { deps, minted, jtis } = setup(admin);
      expect(await outcome(jwtBearer.handle(request(unsigned({ sub, scope: "openid" })), admin, deps, "private_key_jwt"), minted)).toEqual([
        "invalid_grant",
        "assertion rejected: sub holds a control character or is not well-formed Unicode",
      ]);
      expect(jtis.size).toBe(0);
      expect(minted).toEqual([]);
    });
  }

  it("is refused in a client's signed assertion (invalid_grant), while the same user well named is issued for", async () => {
    const { deps, minted } = setup(adminWith(MANAGES));
    const assertion = (sub: string) =>
      new SignJWT({ iss: SIGNER, sub, aud: ISSUER, iat: T, exp: T + 60, jti: randomUUID() }).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(signingKey);
    expect(await outcome(jwtBearer.handle(request(await assertion("jeff\u0000"), { scope: "read" }), signer, deps, "private_key_jwt"), minted)).toEqual([
      "invalid_grant",
      "assertion rejected: sub holds a control character or is not well-formed Unicode",
    ]);
    expect(minted).toEqual([]);
    expect(await outcome(jwtBearer.handle(request(await assertion("jeff"), { scope: "read" }), signer, deps, "private_key_jwt"), minted)).toMatchObject({
      sub: "jeff",
    });
  });
});

describe("no more scopes than a token here may carry (review)", () => {
  const many = Array.from({ length: 65 }, (_, i) => `read:/home/public/d${i}`);

  it("refuses scope templates that expand past 64 scopes (invalid_scope), minting nothing", async () => {
    const admin = adminWith(MANAGES);
    const wide = { ...managed, scope_templates: { "read:": many } };
    const { deps, minted, jtis } = setup(admin, [wide, signer]);
    expect(await outcome(jwtBearer.handle(request(unsigned({ scope: "read:" })), admin, deps, "private_key_jwt"), minted)).toEqual([
      "invalid_scope",
      "the scopes granted would be more than the 64 a token may carry: ask for fewer",
    ]);
    expect([minted, jtis.size]).toEqual([[], 0]);
    const fewer = { ...managed, scope_templates: { "read:": many.slice(0, 64) } };
    const ok = setup(admin, [fewer, signer]);
    const issued = await outcome(jwtBearer.handle(request(unsigned({ scope: "read:" })), admin, ok.deps, "private_key_jwt"), ok.minted);
    expect((issued as MintInput).scope).toHaveLength(64);
  });

  it("refuses a broad client_credentials request met by more than 64 narrower allowed scopes (invalid_scope)", async () => {
    const client = record("wide", { grant_types: ["client_credentials"], scope: many, audience: ["storage"] });
    const { deps, minted } = setup(adminWith(MANAGES), [client]);
    const req = { grant_type: "client_credentials", scope: "read:/home", audience: [], resource: [] } as unknown as TokenRequest__Output;
    expect(await outcome(clientCredentials.handle(req, client, deps, "client_secret_basic"), minted)).toEqual([
      "invalid_scope",
      "the scopes granted would be more than the 64 a token may carry: ask for fewer",
    ]);
    expect(minted).toEqual([]);
  });

  it("refuses 64 scopes whose scope claim would be longer than 8,192 characters, which no verifier here reads", async () => {
    const long = Array.from({ length: 64 }, (_, i) => `read:/home/public/${String(i).padStart(2, "0")}${"x".repeat(120)}`);
    const client = record("long", { grant_types: ["client_credentials"], scope: long, audience: ["storage"] });
    const { deps, minted } = setup(adminWith(MANAGES), [client]);
    const req = { grant_type: "client_credentials", scope: "read:/home", audience: [], resource: [] } as unknown as TokenRequest__Output;
    expect(await outcome(clientCredentials.handle(req, client, deps, "client_secret_basic"), minted)).toEqual([
      "invalid_scope",
      "the scopes granted would be longer than the 8192 characters a token may carry: ask for fewer",
    ]);
    expect(minted).toEqual([]);
  });
});

describe("the scope claim of the dedicated issuer's unsigned assertion", () => {
  it("is a string or an array; any other type is invalid_scope, the request's scope is not granted in its place, and the jti stays unspent", async () => {
    const admin = adminWith(MANAGES);
    for (const claim of [{ "write:": true }, 5, true, null]) {
      const { deps, minted, jtis } = setup(admin);
      const answer = await outcome(jwtBearer.handle(request(unsigned({ scope: claim }), { scope: "openid write:" }), admin, deps, "private_key_jwt"), minted);
      expect([answer, jtis.size]).toEqual([["invalid_scope", "assertion scope is malformed"], 0]);
    }
    expect(await dti(admin, unsigned({ scope: "write:" }), { scope: "openid" })).toMatchObject({ scope: ["write:/home/jeff/data"] });
    expect(await dti(admin, unsigned({ scope: ["openid", "write:"] }))).toMatchObject({ scope: ["openid", "write:/home/jeff/data"] });
    // Absent, the request's scope is the one asked for, as before.
    expect(await dti(admin, unsigned(), { scope: "openid" })).toMatchObject({ scope: ["openid"] });
  });
});
