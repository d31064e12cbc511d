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
import { JWT_BEARER } from "@sts/jwt";
import type { TokenRequest__Output } from "@sts/proto";
import type { MintInput } from "../mint.js";
import { MAX_SUBJECT_BYTES } from "../subject-revocation.js";
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

/** Grant deps over a registry holding `admin`, its client and the signer; `minted` is what the minter was asked. */
function setup(admin: ClientRecord) {
  const minted: MintInput[] = [];
  const jtis = new Set<string>();
  const registry = new Map([admin, managed, signer].map((c) => [c.client_id, c]));
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
    isUser: () => false,
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
