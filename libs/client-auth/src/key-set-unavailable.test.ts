/**
 * A client's key set that cannot be fetched from its jwks_uri (the key server answers 404, or the issuer refuses its
 * address) is told apart from a bad signature: the log names the key server's failure for the operator, a grant's
 * authenticated client learns that its key set could not be had, and a client assertion's answer still says no more
 * than any failed authentication (RFC 6749 §5.2, no client enumeration).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import { invalidClient, invalidGrant } from "@sts/errors";
import { CLIENT_AUTHENTICATION_FAILED, ClientKeySets, verifyClientSignedAssertion } from "./index.js";
import type { AssertionDeps, ClientRecord } from "./index.js";
import { assertionDeps, clientRecord } from "./record.fixture.js";
import { startKeyServer } from "./key-server.fixture.js";
import type { KeyServer } from "./key-server.fixture.js";
import { outcome } from "./outcome.fixture.js";

const ISSUER = "https://sts.test";
const T = 1_800_000_000;

let key: CryptoKey;
let otherKey: CryptoKey;
let keyServer: KeyServer;

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = pair.privateKey;
  otherKey = (await generateKeyPair("ES256")).privateKey;
  keyServer = await startKeyServer();
  keyServer.jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" }] };
});

afterAll(() => keyServer?.close());

/** Clients whose keys are at a path of the key server: /jwks serves them, /missing answers 404. */
function deps(keySets: ClientKeySets) {
  const logged: Array<Record<string, unknown>> = [];
  const at = (path: string): ClientRecord =>
    clientRecord(path, {
      token_endpoint_auth_method: "private_key_jwt",
      grant_types: ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
      jwks_uri: `https://localhost:${keyServer.port}/${path}`,
    });
  const registry = new Map([
    ["jwks", at("jwks")],
    ["missing", at("missing")],
  ]);
  const d = assertionDeps(ISSUER, T, (id) => registry.get(id), {
    logger: { info: (obj: unknown) => void logged.push(obj as Record<string, unknown>) },
    keySets,
  });
  return { d, logged };
}

const sign = (iss: string, sub: string, signingKey: CryptoKey = key): Promise<string> =>
  new SignJWT({ iss, sub, aud: ISSUER, iat: T, exp: T + 60, jti: randomUUID() }).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(signingKey);

const authenticate = (assertion: string, d: AssertionDeps) => verifyClientSignedAssertion(assertion, d, invalidClient, { requireSubIsIssuer: true });
const grant = (assertion: string, d: AssertionDeps, clientId: string) =>
  verifyClientSignedAssertion(assertion, d, invalidGrant, { requireSubIsIssuer: false, expectedClientId: clientId });

const loopback = (): ClientKeySets => new ClientKeySets({ allowPrivateNetworks: ["127.0.0.0/8", "::1/128"], ca: keyServer.ca });

describe("a client's key set that cannot be fetched from its jwks_uri", () => {
  it("is logged as the key server's failure, with its cause, not as a bad signature; the answer stays the one of any failed authentication", async () => {
    const { d, logged } = deps(loopback());
    expect(await outcome(authenticate(await sign("missing", "missing"), d))).toEqual(["invalid_client", CLIENT_AUTHENTICATION_FAILED]);
    expect(logged).toEqual([{ client_id: "missing", reason: "key_set_unavailable", detail: expect.stringContaining("answered 404") }]);
    // A signature the served keys do not verify is still a bad signature.
    expect(await outcome(authenticate(await sign("jwks", "jwks", otherKey), d))).toEqual(["invalid_client", CLIENT_AUTHENTICATION_FAILED]);
    expect(logged[1]).toMatchObject({ client_id: "jwks", reason: "signature" });
  });

  it("is told as such to a grant's client, already authenticated (invalid_grant, RFC 7523 §3.1), however the fetch failed", async () => {
    const { d } = deps(loopback());
    const down = ["invalid_grant", "assertion rejected: the client's key set could not be fetched from its jwks_uri"];
    expect(await outcome(grant(await sign("missing", "jeff"), d, "missing"))).toEqual(down);
    // The issuer refusing the key server's address (not in allow_private_networks) is a key set it cannot have too.
    const publicOnly = deps(new ClientKeySets({ ca: keyServer.ca })).d;
    expect(await outcome(grant(await sign("jwks", "jeff"), publicOnly, "jwks"))).toEqual(down);
    // A key set that was fetched and does not verify the signature is the assertion's fault, as before.
    expect(await outcome(grant(await sign("jwks", "jeff", otherKey), d, "jwks"))).toEqual(["invalid_grant", "assertion rejected: bad signature"]);
    expect(await outcome(grant(await sign("jwks", "jeff"), d, "jwks"))).toBe("ok");
  });
});
