/**
 * BackchannelLogouts against a provider whose JWK Set is served over real HTTP on loopback: what happens to a
 * verified logout token (OpenID Connect Back-Channel Logout 1.0 §2.6) that the stack cannot apply at once.
 */
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OAuthError, isShownAsWritten, unavailable } from "@sts/errors";
import type { RevokeSubjectRequest } from "@sts/proto";
import { createLogger } from "@sts/telemetry";
import { BACKCHANNEL_LOGOUT_EVENT, BackchannelLogouts, MAX_LOGOUT_TOKEN_AGE_SECONDS, logoutReason, verifyLogoutToken } from "./backchannel-logout.js";
import type { BackchannelLogoutDeps } from "./backchannel-logout.js";
import { TrustedIssuers } from "./trusted-issuers.js";

const IDP = "https://idp.test.example/realms/main";
const KID = "idp-1";
let server: Server;
let key: CryptoKey;
let trusted: TrustedIssuers;

beforeAll(async () => {
  const pair = await generateKeyPair("ES256");
  key = pair.privateKey;
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: KID, alg: "ES256", use: "sig" }] });
  server = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(jwks));
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
  trusted = new TrustedIssuers([
    {
      issuer: IDP,
      jwks_uri: `http://127.0.0.1:${port}/jwks`,
      algorithms: ["ES256"],
      typ: ["at+jwt"],
      claims: {},
      backchannel_logout: { audience: "mesh-sts" },
    },
  ]);
});

afterAll(
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
);

const now = (): number => Math.floor(Date.now() / 1000);

/** A logout token for `sub`, as the provider signs it. */
const logoutToken = (sub: string): Promise<string> =>
  new SignJWT({ iss: IDP, aud: "mesh-sts", sub, jti: randomUUID(), iat: now(), exp: now() + 120, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } })
    .setProtectedHeader({ alg: "ES256", kid: KID, typ: "logout+jwt" })
    .sign(key);

/** The logouts, with the revocation lookup and RevokeSubject given. */
function logoutsWith(subjectRevokedAt: BackchannelLogoutDeps["subjectRevokedAt"], revokeSubject: BackchannelLogoutDeps["revokeSubject"]) {
  return new BackchannelLogouts({
    trusted,
    verify: { clockTolerance: 1, now, maxBytes: 8192 },
    revokeSubject,
    subjectRevokedAt,
    logger: createLogger("backchannel-logout-test", { level: "silent" }),
  });
}

describe("a verified logout the stack cannot apply at once (§2.6, README: the exchanger retries for providers that do not)", () => {
  it("is retried when this replica's revocation state is too old to tell whether it was applied, not dropped", async () => {
    let stale = true;
    let lookups = 0;
    const revoked: RevokeSubjectRequest[] = [];
    const logouts = logoutsWith(
      () => {
        lookups++;
        // As RevocationList does once NATS has been away past revocation_max_staleness.
        if (stale) throw unavailable("revocation state is out of date (NATS unreachable)");
        return undefined;
      },
      (request) => {
        revoked.push(request);
        return Promise.resolve({ revoked_at: String(now() + 1) });
      },
    );
    await expect(logouts.handle(await logoutToken("alice"))).rejects.toMatchObject({ code: "temporarily_unavailable" });
    expect(revoked).toEqual([]);
    // NATS is back: nobody posts the token again (Keycloak would not), the replica's own retry applies it.
    stale = false;
    await expect.poll(() => revoked.map((r) => r.sub), { timeout: 5_000, interval: 50 }).toEqual(["alice"]);
    expect(lookups).toBeGreaterThanOrEqual(2);
  });

  it("is not applied again by a retry once another replica applied it: the user who came back stays signed in", async () => {
    let elsewhere: number | undefined = undefined;
    let lookups = 0;
    const revoked: RevokeSubjectRequest[] = [];
    const logouts = logoutsWith(
      () => {
        lookups++;
        return elsewhere;
      },
      (request) => {
        revoked.push(request);
        // The issuer is away for this replica's first attempt.
        if (revoked.length === 1) return Promise.reject(unavailable("revocation store unavailable"));
        return Promise.resolve({ revoked_at: String(now() + 1) });
      },
    );
    await expect(logouts.handle(await logoutToken("bob"))).rejects.toMatchObject({ code: "temporarily_unavailable" });
    // The provider posted it again to another replica, which applied it: the revocation is on record.
    elsewhere = now() + 1;
    // Wait for this replica's retry, whatever it does: look the revocation up, or call RevokeSubject again.
    await expect.poll(() => lookups >= 2 || revoked.length >= 2, { timeout: 5_000, interval: 50 }).toBe(true);
    expect(revoked).toHaveLength(1);
  });
});

describe("a logout token whose jti is empty (§2.4: jti REQUIRED, the token's unique identifier)", () => {
  /** A logout token for `sub` as a provider that leaves its jti empty signs it. */
  const emptyJti = (sub: string): Promise<string> =>
    new SignJWT({ iss: IDP, aud: "mesh-sts", sub, jti: "", iat: now(), exp: now() + 120, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } })
      .setProtectedHeader({ alg: "ES256", kid: KID, typ: "logout+jwt" })
      .sign(key);

  it("is refused (invalid_request) before anything is revoked, so it never stands in for another logout of that provider", async () => {
    const revoked: RevokeSubjectRequest[] = [];
    const logouts = logoutsWith(
      () => undefined,
      (request) => {
        revoked.push(request);
        return Promise.resolve({ revoked_at: String(now() + 1) });
      },
    );
    const refusal = (sub: string) =>
      emptyJti(sub)
        .then((token) => logouts.handle(token))
        .then(
          () => "applied",
          (err: unknown) => (err instanceof OAuthError ? [err.code, err.description] : err),
        );
    // Keyed by that jti, alice's logout would be remembered as applied, and bob's answered from it: bob never signed out.
    expect(await refusal("alice")).toEqual(["invalid_request", "logout_token has a malformed jti or iat"]);
    expect(await refusal("bob")).toEqual(["invalid_request", "logout_token has a malformed jti or iat"]);
    expect(revoked).toEqual([]);
  });
});

describe("the reason a logout's revocation records", () => {
  const logout = { iss: IDP, sub: "alice", iat: 1, until: 2 };

  it("quotes an ordinary jti as it is", () => {
    expect(logoutReason({ ...logout, jti: "5f0e6c1d-jti" })).toBe("OpenID Connect back-channel logout (logout token 5f0e6c1d-jti)");
  });

  // RevokeSubject refuses a reason that is not one line of text reading as written (invalid_request): quoted as it
  // is, such a jti would make the logout fail with server_error every time the provider sent it.
  it.each([
    ["a line break", "line\nbreak"],
    ["a tab", "tab\there"],
    ["a bidi override", "bidi\u202eoverride"],
    ["a NUL", "nul\u0000"],
  ])("quotes a jti holding %s by its digest, so the issuer takes the reason", (_, jti) => {
    const reason = logoutReason({ ...logout, jti });
    expect(isShownAsWritten(reason)).toBe(true);
    expect(reason).toMatch(/^OpenID Connect back-channel logout \(logout token sha256:[A-Za-z0-9_-]{43}\)$/);
  });
});

describe("a logout token the provider signed but that no stack subject could be signed out by (§2.6)", () => {
  /** A logout token signed by the provider's key, with these header members and claims over the usual ones. */
  const signed = (header: Record<string, unknown>, claims: Record<string, unknown> = {}): Promise<string> =>
    new SignJWT({
      iss: IDP,
      aud: "mesh-sts",
      sub: "alice",
      jti: randomUUID(),
      iat: now(),
      exp: now() + 120,
      events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
      ...claims,
    })
      .setProtectedHeader({ alg: "ES256", kid: KID, ...header })
      .sign(key);
  const verify = (token: string) => verifyLogoutToken(token, trusted, { clockTolerance: 1, now, maxBytes: 8192 });
  /** What verification threw: an OAuthError's code and description, or the name of anything else (a 500 at the gateway). */
  const refusal = (token: string): Promise<unknown> =>
    verify(token).then(
      () => "verified",
      (err: unknown) => (err instanceof OAuthError ? [err.code, err.description] : (err as Error).name),
    );

  it.each<[string, unknown]>([
    ["a number", 1],
    ["a list", ["logout+jwt"]],
    ["an object", { typ: "logout+jwt" }],
  ])("refuses a typ that is %s as a bad token (invalid_request), not a server_error", async (_, typ) => {
    expect(await refusal(await signed({ typ }))).toEqual(["invalid_request", "logout_token has a typ other than logout+jwt or JWT"]);
  });

  it("still takes logout+jwt, JWT or no typ (§2.4), and refuses an access token's", async () => {
    for (const header of [{ typ: "logout+jwt" }, { typ: "application/logout+jwt" }, { typ: "JWT" }, {}]) {
      expect(await refusal(await signed(header))).toBe("verified");
    }
    expect(await refusal(await signed({ typ: "at+jwt" }))).toEqual(["invalid_request", "logout_token has a typ other than logout+jwt or JWT"]);
  });

  it("refuses a logout token issued more than ten minutes ago, whatever its exp, and takes one just inside that", async () => {
    const issuedAgo = (seconds: number) => signed({ typ: "logout+jwt" }, { iat: now() - seconds, exp: now() + 86_400 });
    expect(await refusal(await issuedAgo(MAX_LOGOUT_TOKEN_AGE_SECONDS + 60))).toEqual(["invalid_request", "logout_token failed verification: token expired"]);
    expect(await refusal(await issuedAgo(MAX_LOGOUT_TOKEN_AGE_SECONDS - 60))).toBe("verified");
  });

  it("refuses a logout token without exp (required by §2.4): none is remembered for less than it verifies", async () => {
    expect(await refusal(await signed({ typ: "logout+jwt" }, { exp: undefined }))).toEqual([
      "invalid_request",
      "logout_token failed verification: missing exp claim",
    ]);
  });

  it.each([
    ["an escape sequence", "alice\u001b[2J"],
    ["a C1 control", "alice\u0085"],
    ["a lone surrogate", "alice\ud800"],
  ])("refuses a sub holding %s, which no token of this stack names (the exchange refuses it), before anything is revoked", async (_, sub) => {
    expect(await refusal(await signed({ typ: "logout+jwt" }, { sub }))).toEqual([
      "invalid_request",
      "logout_token names a sub holding a control character or broken UTF-16",
    ]);
  });
});
