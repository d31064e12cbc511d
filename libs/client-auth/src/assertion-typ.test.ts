/**
 * The `typ` of a client-signed assertion is one of a closed list (RFC 8725 §3.11 explicit typing,
 * draft-ietf-oauth-rfc7523bis §4): absent, `JWT` or `JOSE`, and `client-authentication+jwt` for client
 * authentication only. A refusal of everything ending in `+jwt` let another kind of JWT through whenever its typ was
 * spelled with a media type parameter or stray whitespace, which a lenient verifier elsewhere still reads as that kind.
 */
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import { invalidClient, invalidGrant } from "@sts/errors";
import { verifyClientSignedAssertion } from "./index.js";
import type { AssertionDeps } from "./index.js";
import { assertionDeps, clientRecord } from "./record.fixture.js";
import { outcome } from "./outcome.fixture.js";

const ISSUER = "https://sts.test";
const T = 1_800_000_000;
let key: CryptoKey;
let d: AssertionDeps;

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  key = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" };
  const signer = clientRecord("signer", { token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [jwk] } });
  d = assertionDeps(ISSUER, T, (id) => (id === "signer" ? signer : undefined));
});

/** An assertion of "signer" about `sub`, typed `typ` (none when undefined). */
const sign = (sub: string, typ: string | undefined): Promise<string> =>
  new SignJWT({ iss: "signer", sub, aud: ISSUER, iat: T, exp: T + 60, jti: randomUUID() })
    .setProtectedHeader({ alg: "ES256", kid: "k1", ...(typ !== undefined && { typ }) })
    .sign(key);

/** Other kinds of JWT, spelled so that they do not end in "+jwt". */
const DISGUISED = [
  "at+jwt; charset=utf-8",
  "application/at+jwt;v=1",
  "at+jwt ",
  "logout+jwt\t",
  "oauth-authz-req+jwt;x=y",
  "dpop+jwt ",
  "token-introspection+jwt; q=1",
  "secevent",
  "JWS",
  "",
];

describe("the typ of a client assertion (RFC 8725 §3.11)", () => {
  it("is absent, JWT, JOSE or client-authentication+jwt, in any case, with or without application/", async () => {
    for (const typ of [undefined, "JWT", "jwt", "application/jwt", "JOSE", "client-authentication+jwt", "application/Client-Authentication+JWT"]) {
      expect([typ, await outcome(verifyClientSignedAssertion(await sign("signer", typ), d, invalidClient, { requireSubIsIssuer: true }))]).toEqual([typ, "ok"]);
    }
  });

  it("refuses every other typ, another kind of JWT however it is spelled included", async () => {
    for (const typ of DISGUISED) {
      expect([typ, await outcome(verifyClientSignedAssertion(await sign("signer", typ), d, invalidClient, { requireSubIsIssuer: true }))]).toEqual([
        typ,
        ["invalid_client", "assertion rejected: unexpected token type"],
      ]);
    }
  });
});

describe("the typ of a jwt-bearer grant assertion (RFC 8725 §3.11)", () => {
  it("is absent, JWT or JOSE; a client authentication JWT and every other typ are refused", async () => {
    const grant = (assertion: string) => verifyClientSignedAssertion(assertion, d, invalidGrant, { requireSubIsIssuer: false, expectedClientId: "signer" });
    for (const typ of [undefined, "JWT", "application/JOSE"]) expect([typ, await outcome(grant(await sign("jeff", typ)))]).toEqual([typ, "ok"]);
    for (const typ of ["client-authentication+jwt", ...DISGUISED]) {
      expect([typ, await outcome(grant(await sign("jeff", typ)))]).toEqual([typ, ["invalid_grant", "assertion rejected: unexpected token type"]]);
    }
  });
});
