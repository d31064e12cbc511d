/**
 * Signed assertions (RFC 7523): what a refused client assertion tells its sender (nothing about which clients exist
 * or how they authenticate), which audiences and typ values are taken (draft-ietf-oauth-rfc7523bis), the bound
 * on a grant assertion's `sub`, and where a client's jwks_uri is fetched from (never an internal address unless the
 * operator allows its network).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey, JWK } from "jose";
import { invalidClient, invalidGrant } from "@sts/errors";
import { CLIENT_AUTHENTICATION_FAILED, ClientKeySets, assertionAudiences, verifyClientSignedAssertion } from "./index.js";
import type { AssertionDeps, ClientRecord } from "./index.js";
import { clientRecord } from "./record.fixture.js";
import { startKeyServer } from "./key-server.fixture.js";
import type { KeyServer } from "./key-server.fixture.js";
import { outcome } from "./outcome.fixture.js";

const ISSUER = "https://sts.test";
const TOKEN_ENDPOINT = `${ISSUER}/oauth2/token`;
const T = 1_800_000_000;

let key: CryptoKey;
let jwk: JWK;
let otherJwk: JWK;
let keyServer: KeyServer;

function record(client_id: string, extra: Partial<ClientRecord> = {}): ClientRecord {
  return clientRecord(client_id, { token_endpoint_auth_method: "private_key_jwt", grant_types: ["client_credentials"], ...extra });
}

/** The registry: one client per way a lookup can end, the assertion signed with `key` verifying only for "signer". */
const clients = (): Map<string, ClientRecord> =>
  new Map([
    ["signer", record("signer", { jwks: { keys: [jwk] } })],
    ["other-key", record("other-key", { jwks: { keys: [otherJwk] } })],
    ["two-keys", record("two-keys", { jwks: { keys: [jwk, { ...otherJwk, kid: "k2" }] } })],
    ["secret-only", record("secret-only", { token_endpoint_auth_method: "client_secret_basic", secret_hash: "scrypt$…" })],
    // Registered for a secret method, with the keys its jwt-bearer assertions are signed with (RFC 7523 §2.1).
    ["secret-with-keys", record("secret-with-keys", { token_endpoint_auth_method: "client_secret_basic", secret_hash: "scrypt$…", jwks: { keys: [jwk] } })],
    ["keyless", record("keyless")],
    // Its keys at a name that resolves to loopback (a jwks_uri any admin could register).
    ["uri-signer", record("uri-signer", { jwks_uri: `https://localhost:${keyServer.port}/jwks` })],
  ]);

/** Deps with a logger and a jti store the test can read. */
function deps(over: Partial<AssertionDeps> = {}) {
  const logged: Array<Record<string, unknown>> = [];
  const jtis = new Set<string>();
  const registry = clients();
  const d: AssertionDeps = {
    lookup: (id) => registry.get(id),
    recordJti: (clientId, jti) => {
      const k = `${clientId}\0${jti}`;
      if (jtis.has(k)) return Promise.resolve(false);
      jtis.add(k);
      return Promise.resolve(true);
    },
    audiences: assertionAudiences(ISSUER, { tokenEndpoint: TOKEN_ENDPOINT }),
    now: () => T,
    maxLifetime: 300,
    clockTolerance: 30,
    maxBytes: 8192,
    logger: { info: (obj: unknown) => void logged.push(obj as Record<string, unknown>) },
    ...over,
  };
  return { d, logged, jtis };
}

const claims = (iss: string, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss,
  sub: iss,
  aud: ISSUER,
  iat: T,
  exp: T + 60,
  jti: randomUUID(),
  ...over,
});

const sign = (payload: Record<string, unknown>, header: Record<string, unknown> = { kid: "k1" }, signingKey: CryptoKey = key): Promise<string> =>
  new SignJWT(payload).setProtectedHeader({ alg: "ES256", ...header }).sign(signingKey);

const authenticate = (assertion: string, d: AssertionDeps, expectedClientId?: string) =>
  verifyClientSignedAssertion(assertion, d, invalidClient, { requireSubIsIssuer: true, ...(expectedClientId && { expectedClientId }) });
const grant = (assertion: string, d: AssertionDeps, clientId: string, maxSubjectBytes?: number) =>
  verifyClientSignedAssertion(assertion, d, invalidGrant, {
    requireSubIsIssuer: false,
    expectedClientId: clientId,
    ...(maxSubjectBytes !== undefined && { maxSubjectBytes }),
  });

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = pair.privateKey;
  jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" };
  const other = await generateKeyPair("ES256", { extractable: true });
  otherJwk = { ...(await exportJWK(other.publicKey)), kid: "k1", alg: "ES256" };
  keyServer = await startKeyServer();
  keyServer.jwks = { keys: [jwk] };
});

afterAll(() => keyServer?.close());

describe("a refused client assertion tells nothing about other clients (RFC 6749 §5.2, as the secret methods)", () => {
  it("refuses a client registered for a secret method before its signature is checked, spending no jti of its own keys", async () => {
    const { d, jtis, logged } = deps();
    expect(await outcome(authenticate(await sign(claims("secret-with-keys")), d))).toEqual(["invalid_client", CLIENT_AUTHENTICATION_FAILED]);
    expect([jtis.size, logged.map((l) => l.detail)]).toEqual([0, ["client does not authenticate with private_key_jwt"]]);
  });

  it("answers an unknown client, a bad signature, a client without keys and a missing kid with one description", async () => {
    const { d, logged } = deps();
    const cases = {
      "unknown client": await sign(claims("nobody")),
      "bad signature": await sign(claims("other-key")),
      "client has no registered keys": await sign(claims("keyless")),
      "client does not authenticate with private_key_jwt": await sign(claims("secret-only")),
      "kid is required when several keys are registered": await sign(claims("two-keys"), {}),
    };
    for (const assertion of Object.values(cases)) {
      expect(await outcome(authenticate(assertion, d))).toEqual(["invalid_client", CLIENT_AUTHENTICATION_FAILED]);
    }
    // The secret methods' answer, word for word: the method is no more to be learnt than the client.
    expect(CLIENT_AUTHENTICATION_FAILED).toBe("client authentication failed");
    // The detail goes to the log, never the assertion.
    expect(logged.map((l) => [l.client_id, l.detail])).toEqual([
      ["nobody", "unknown client"],
      ["other-key", "bad signature"],
      ["keyless", "client has no registered keys"],
      ["secret-only", "client does not authenticate with private_key_jwt"],
      ["two-keys", "kid is required when several keys are registered"],
    ]);
    const text = JSON.stringify(logged);
    for (const assertion of Object.values(cases)) expect(text).not.toContain(assertion.split(".")[2]);
  });

  it("keeps a precise description where it tells nothing of a client: before the lookup, and once the signature is proven", async () => {
    const { d, logged } = deps();
    expect(await outcome(authenticate("not-a-jwt", d))).toEqual(["invalid_client", "assertion rejected: not a compact JWS"]);
    expect(await outcome(authenticate(await sign(claims("nobody")), d, "someone-else"))).toEqual([
      "invalid_client",
      "assertion rejected: iss does not match client_id",
    ]);
    // Only the key's holder reaches these.
    expect(await outcome(authenticate(await sign(claims("signer", { exp: T + 3600 })), d))).toEqual([
      "invalid_client",
      "assertion rejected: exp is too far in the future",
    ]);
    expect(await outcome(authenticate(await sign(claims("signer", { aud: "https://elsewhere.test" })), d))).toEqual([
      "invalid_client",
      "assertion rejected: audience mismatch",
    ]);
    const once = await sign(claims("signer"));
    expect(await outcome(authenticate(once, d))).toBe("ok");
    expect(await outcome(authenticate(once, d))).toEqual(["invalid_client", "assertion replayed (jti already used)"]);
    expect(logged).toEqual([]);
  });

  it("keeps the precise description of a grant assertion: its client is the one already authenticated", async () => {
    const { d } = deps();
    expect(await outcome(grant(await sign(claims("other-key", { sub: "jeff" })), d, "other-key"))).toEqual([
      "invalid_grant",
      "assertion rejected: bad signature",
    ]);
  });
});

describe("the audience of an assertion (draft-ietf-oauth-rfc7523bis)", () => {
  it("is the issuer identifier alone unless the token endpoint URL is given as well", () => {
    expect(assertionAudiences(ISSUER)).toEqual([ISSUER]);
    expect(assertionAudiences(ISSUER, { tokenEndpoint: TOKEN_ENDPOINT })).toEqual([ISSUER, TOKEN_ENDPOINT]);
    expect(() => assertionAudiences("")).toThrow(TypeError);
  });

  it("refuses the token endpoint URL where only the issuer identifier is configured, as the sole value or in an array", async () => {
    const { d } = deps({ audiences: assertionAudiences(ISSUER) });
    expect(await outcome(authenticate(await sign(claims("signer")), d))).toBe("ok");
    expect(await outcome(authenticate(await sign(claims("signer", { aud: [ISSUER] })), d))).toBe("ok");
    expect(await outcome(authenticate(await sign(claims("signer", { aud: TOKEN_ENDPOINT })), d))).toEqual([
      "invalid_client",
      "assertion rejected: audience mismatch",
    ]);
    expect(await outcome(authenticate(await sign(claims("signer", { aud: [ISSUER, TOKEN_ENDPOINT] })), d))).toEqual([
      "invalid_client",
      "assertion rejected: aud must be a single value",
    ]);
    // With the token endpoint configured too, both are taken, one at a time.
    const both = deps().d;
    expect(await outcome(authenticate(await sign(claims("signer", { aud: TOKEN_ENDPOINT })), both))).toBe("ok");
  });

  it("is never verified against an empty list (a wiring mistake)", async () => {
    const { d } = deps({ audiences: [] });
    await expect(authenticate(await sign(claims("signer")), d)).rejects.toThrow(TypeError);
  });
});

describe("the typ of an assertion (RFC 8725 §3.11, draft-ietf-oauth-rfc7523bis §4)", () => {
  it("takes client-authentication+jwt, JWT or none for client authentication, and no JWT of another kind", async () => {
    const { d } = deps();
    for (const typ of [undefined, "JWT", "client-authentication+jwt", "application/client-authentication+jwt"]) {
      expect(await outcome(authenticate(await sign(claims("signer"), { kid: "k1", ...(typ && { typ }) }), d))).toBe("ok");
    }
    for (const typ of ["at+jwt", "logout+jwt", "application/at+JWT"]) {
      expect(await outcome(authenticate(await sign(claims("signer"), { kid: "k1", typ }), d))).toEqual([
        "invalid_client",
        "assertion rejected: unexpected token type",
      ]);
    }
  });

  it("takes no client authentication JWT as a grant", async () => {
    const { d } = deps();
    expect(await outcome(grant(await sign(claims("signer", { sub: "jeff" }), { kid: "k1", typ: "client-authentication+jwt" }), d, "signer"))).toEqual([
      "invalid_grant",
      "assertion rejected: unexpected token type",
    ]);
    expect(await outcome(grant(await sign(claims("signer", { sub: "jeff" }), { kid: "k1", typ: "JWT" }), d, "signer"))).toBe("ok");
  });
});

describe("the sub of a grant assertion", () => {
  it("is refused with invalid_grant when longer, in UTF-8 bytes, than maxSubjectBytes, and burns no jti", async () => {
    const { d, jtis } = deps();
    expect(await outcome(grant(await sign(claims("signer", { sub: "u".repeat(1024) })), d, "signer", 1024))).toBe("ok");
    const long = claims("signer", { sub: "u".repeat(1025) });
    expect(await outcome(grant(await sign(long), d, "signer", 1024))).toEqual(["invalid_grant", "assertion rejected: sub is longer than 1024 bytes"]);
    // 342 three-byte characters: 1,026 bytes in fewer than 1,024 characters.
    expect(await outcome(grant(await sign(claims("signer", { sub: "€".repeat(342) })), d, "signer", 1024))).toEqual([
      "invalid_grant",
      "assertion rejected: sub is longer than 1024 bytes",
    ]);
    expect([...jtis].some((k) => k.endsWith(long.jti as string))).toBe(false);
  });
});

describe("a client's keys at its jwks_uri (server-side request forgery)", () => {
  it("are not fetched from an internal address: the assertion is refused like any other, and no connection is opened", async () => {
    const { d, logged } = deps();
    const before = keyServer.connections;
    expect(await outcome(authenticate(await sign(claims("uri-signer")), d))).toEqual(["invalid_client", CLIENT_AUTHENTICATION_FAILED]);
    expect(await outcome(grant(await sign(claims("uri-signer", { sub: "jeff" })), d, "uri-signer"))).toEqual([
      "invalid_grant",
      "assertion rejected: the client's key set could not be fetched from its jwks_uri",
    ]);
    expect(keyServer.connections).toBe(before);
    expect(logged.map((l) => l.client_id)).toEqual(["uri-signer"]);
  });

  it("are fetched from a network the operator allows, and a refusal is logged for the operator", async () => {
    const warned: Array<Record<string, unknown>> = [];
    const logger = { warn: (obj: unknown) => void warned.push(obj as Record<string, unknown>) };
    const allowed = deps({ keySets: new ClientKeySets({ allowPrivateNetworks: ["127.0.0.0/8", "::1/128"], ca: keyServer.ca, logger }) }).d;
    expect(await outcome(authenticate(await sign(claims("uri-signer")), allowed))).toBe("ok");
    expect(warned).toEqual([]);
    const refused = deps({ keySets: new ClientKeySets({ ca: keyServer.ca, logger }) }).d;
    expect(await outcome(authenticate(await sign(claims("uri-signer")), refused))).toEqual(["invalid_client", CLIENT_AUTHENTICATION_FAILED]);
    expect(warned).toEqual([
      { jwks_host: `localhost:${keyServer.port}`, reason: expect.stringMatching(/^127\.0\.0\.1 is not a public address|^::1 is not a public address/) },
    ]);
  });
});
