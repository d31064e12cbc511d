import { describe, expect, it } from "vitest";
import { Metadata } from "@grpc/grpc-js";
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair } from "jose";
import { OAuthError } from "@sts/errors";
import { VerifiedTokens } from "@sts/jwt";
import { auditorAuthenticator } from "./authenticate-auditor.js";
import type { Auditor } from "./authenticate-auditor.js";

const NOW = 1_800_000_000;
const ISSUER = "https://sts.example";
const BREAK_GLASS = "break-glass-0123456789abcdef";

async function setup(options: { breakGlassToken?: string; allowAnonymous?: boolean } = {}) {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: "k", alg: "ES256" }] });
  const revoked = new Set<string>();
  let now = NOW;
  const sign = (claims: Record<string, unknown> = {}, typ = "at+jwt"): Promise<string> =>
    new SignJWT({
      iss: ISSUER,
      sub: "auditor-alice",
      aud: "sts-audit",
      iat: NOW,
      exp: NOW + 300,
      jti: "j-alice",
      client_id: "auditor-alice",
      scope: "audit:read",
      ...claims,
    })
      .setProtectedHeader({ alg: "ES256", kid: "k", typ })
      .sign(privateKey);
  const authenticate = auditorAuthenticator({
    breakGlassToken: options.breakGlassToken,
    allowAnonymous: options.allowAnonymous ?? false,
    scope: "audit:read",
    tokens: {
      issuer: ISSUER,
      audience: "sts-audit",
      keys,
      revocations: { isRevoked: (jti) => revoked.has(jti), subjectRevokedAt: () => undefined, isKeyWithdrawn: () => false },
      clockTolerance: 0,
      now: () => now,
      verified: new VerifiedTokens(),
    },
  });
  return { sign, authenticate, revoked, setNow: (t: number) => (now = t) };
}

const authorization = (value?: string): Metadata => {
  const m = new Metadata();
  if (value !== undefined) m.set("authorization", value);
  return m;
};
const bearer = (credential?: string): Metadata => authorization(credential === undefined ? undefined : `Bearer ${credential}`);

/** The OAuth code a call is refused with, or the auditor it is let in as. */
const outcome = (p: Promise<Auditor>): Promise<Auditor | string> =>
  p.then(
    (a) => a,
    (e: unknown) => (e instanceof OAuthError ? e.code : `unexpected ${String(e)}`),
  );

describe("auditorAuthenticator", () => {
  it("names the auditor of a token with the audit audience and scope: its sub, client_id and jti", async () => {
    const { sign, authenticate } = await setup({ breakGlassToken: BREAK_GLASS });
    expect(await authenticate(bearer(await sign()))).toEqual({ credential: "access_token", sub: "auditor-alice", client_id: "auditor-alice", jti: "j-alice" });
    // RFC 9068 says a string; an array is accepted on input, and the audience may be one of several.
    expect(await outcome(authenticate(bearer(await sign({ scope: ["other", "audit:read"], aud: ["x", "sts-audit"] }))))).toMatchObject({
      sub: "auditor-alice",
    });
  });

  it("refuses a valid token without the audit scope with insufficient_scope (RFC 6750 §3.1: PERMISSION_DENIED)", async () => {
    const { sign, authenticate } = await setup({ breakGlassToken: BREAK_GLASS });
    expect(await outcome(authenticate(bearer(await sign({ scope: "audit:write other" }))))).toBe("insufficient_scope");
    expect(await outcome(authenticate(bearer(await sign({ scope: undefined }))))).toBe("insufficient_scope");
  });

  it("refuses with invalid_token (UNAUTHENTICATED): no credential, another audience, expired, revoked, forged, not at+jwt, another issuer", async () => {
    const { sign, authenticate, revoked, setNow } = await setup({ breakGlassToken: BREAK_GLASS });
    const good = await sign();
    const [header, payload] = good.split(".") as [string, string, string];
    const other = await setup();
    const cases: Array<[string, Metadata]> = [
      ["nothing", bearer()],
      ["a Basic header", authorization("Basic YTpi")],
      ["a wrong shared secret", bearer("not-the-break-glass-token")],
      ["another audience", bearer(await sign({ aud: "svc-b" }))],
      ["another issuer", bearer(await sign({ iss: "https://elsewhere.example" }))],
      ["an ID token's typ", bearer(await sign({}, "JWT"))],
      ["a token signed with another key", bearer(await other.sign())],
      [
        "a payload edited under a valid signature",
        bearer(`${header}.${Buffer.from(JSON.stringify({ sub: "root" })).toString("base64url")}.${good.split(".")[2]}`),
      ],
      ["a payload without a signature", bearer(`${header}.${payload}.`)],
    ];
    for (const [what, metadata] of cases) expect(await outcome(authenticate(metadata)), what).toBe("invalid_token");

    expect(await outcome(authenticate(bearer(good)))).toMatchObject({ jti: "j-alice" });
    revoked.add("j-alice");
    expect(await outcome(authenticate(bearer(good))), "revoked").toBe("invalid_token");
    revoked.clear();
    // Revoking a token it was exchanged from revokes it too (its lineage claim).
    const exchanged = await sign({ jti: "j-child", lineage: ["j-parent"] });
    revoked.add("j-parent");
    expect(await outcome(authenticate(bearer(exchanged))), "revoked in its lineage").toBe("invalid_token");
    revoked.clear();
    setNow(NOW + 301);
    expect(await outcome(authenticate(bearer(good))), "expired").toBe("invalid_token");
  });

  it("takes the break-glass credential as such, never as a person", async () => {
    const { authenticate } = await setup({ breakGlassToken: BREAK_GLASS });
    expect(await authenticate(bearer(BREAK_GLASS))).toEqual({ credential: "break_glass", sub: "break-glass", client_id: "", jti: "" });
  });

  it("refuses a call with no credential by default, also without a break-glass credential", async () => {
    const { authenticate } = await setup();
    expect(await outcome(authenticate(bearer()))).toBe("invalid_token");
    expect(await outcome(authenticate(authorization()))).toBe("invalid_token");
  });

  it("with allow_anonymous and no break-glass credential, answers a call with none as anonymous, but still checks one that is presented", async () => {
    const { sign, authenticate } = await setup({ allowAnonymous: true });
    expect(await authenticate(bearer())).toEqual({ credential: "none", sub: "anonymous", client_id: "", jti: "" });
    expect(await outcome(authenticate(bearer("garbage")))).toBe("invalid_token");
    expect(await outcome(authenticate(bearer(await sign({ scope: "other" }))))).toBe("insufficient_scope");
    expect(await outcome(authenticate(bearer(await sign())))).toMatchObject({ credential: "access_token", client_id: "auditor-alice" });
  });
});
