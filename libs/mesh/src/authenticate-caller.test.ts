import { describe, expect, it } from "vitest";
import { Metadata } from "@grpc/grpc-js";
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair } from "jose";
import { OAuthError } from "@sts/errors";
import { callerAuthenticator } from "./authenticate-caller.js";
import type { CallerAuthOptions, CallerIdentity } from "./authenticate-caller.js";

const NOW = 1_900_000_000;
const SECRET = "shared-break-glass-secret-0123456789";
const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
const revoked = new Set<string>();
const tokens: CallerAuthOptions["tokens"] = {
  issuer: "https://sts.test",
  audience: "sts-policy",
  keys: createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" }] }),
  revocations: { isRevoked: (jti) => revoked.has(jti), subjectRevokedAt: () => undefined, isKeyWithdrawn: () => false },
  now: () => NOW,
};

/** An access token of the test issuer that ops-carol got for itself (client_credentials), with these scopes (and claims). */
const tokenWith = (scope: string, claims: Record<string, unknown> = {}): Promise<string> =>
  new SignJWT({ scope, client_id: "ops-carol", jti: `j-${scope}`, ...claims })
    .setProtectedHeader({ alg: "ES256", kid: "k1", typ: "at+jwt" })
    .setIssuer("https://sts.test")
    .setSubject((claims.sub as string | undefined) ?? "ops-carol")
    .setAudience((claims.aud as string | undefined) ?? "sts-policy")
    .setIssuedAt(NOW)
    .setExpirationTime(NOW + 60)
    .sign(privateKey);

const withAuthorization = (value: string | undefined): Metadata => {
  const m = new Metadata();
  if (value !== undefined) m.set("authorization", value);
  return m;
};

/** The caller a call is let in as, or the OAuth code and description it is refused with. */
async function outcome(p: Promise<CallerIdentity>): Promise<CallerIdentity | string> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof OAuthError) return `${err.code}: ${err.description}`;
    throw err;
  }
}

const READ = ["policy:read", "policy:write"];
const WRITE = ["policy:write"];

describe("callerAuthenticator", () => {
  const strict = callerAuthenticator({ breakGlassToken: undefined, anonymousWithoutBreakGlass: false, tokens, holder: "an operator's" });

  it("lets a token in when it carries any of the scopes the call takes, named by its sub, client_id and jti", async () => {
    const writer = withAuthorization(`Bearer ${await tokenWith("policy:write")}`);
    const expected = { credential: "access_token", sub: "ops-carol", client_id: "ops-carol", jti: "j-policy:write" };
    expect(await outcome(strict(writer, READ))).toEqual(expected);
    expect(await outcome(strict(writer, WRITE))).toEqual(expected);
    const reader = withAuthorization(`Bearer ${await tokenWith("other policy:read")}`);
    expect(await outcome(strict(reader, READ))).toMatchObject({ jti: "j-other policy:read" });
    expect(await outcome(strict(reader, WRITE))).toBe("insufficient_scope: this call needs the policy:write scope");
    expect(await outcome(strict(withAuthorization(`Bearer ${await tokenWith("audit:read")}`), READ))).toBe(
      "insufficient_scope: this call needs the policy:read or policy:write scope",
    );
  });

  it("refuses no credential, a garbage one, another audience and a revoked token with invalid_token, naming whose token it wants", async () => {
    expect(await outcome(strict(withAuthorization(undefined), READ))).toBe("invalid_token: this call needs an operator's access token as a bearer");
    expect(await outcome(strict(withAuthorization("Basic b3BzOnNlY3JldA=="), READ))).toBe(
      "invalid_token: this call needs an operator's access token as a bearer",
    );
    for (const credential of ["garbage", SECRET, await tokenWith("policy:write", { aud: "sts-audit" })]) {
      expect(await outcome(strict(withAuthorization(`Bearer ${credential}`), READ))).toMatch(/^invalid_token: /);
    }
    const token = await tokenWith("policy:write", { jti: "j-revoked" });
    revoked.add("j-revoked");
    expect(await outcome(strict(withAuthorization(`Bearer ${token}`), WRITE))).toMatch(/^invalid_token: token rejected/);
  });

  it("refuses a token obtained by token exchange (RFC 8693 act) with invalid_token, even with the scope: its sub is the user it was exchanged from", async () => {
    const delegated = withAuthorization(`Bearer ${await tokenWith("policy:write", { act: { sub: "svc-a", act: { sub: "svc-b" } } })}`);
    const refusal = "invalid_token: a delegated token (act) is not accepted here: operators and auditors present their own";
    expect(await outcome(strict(delegated, WRITE))).toBe(refusal);
    expect(await outcome(strict(delegated, READ))).toBe(refusal);
    const open = callerAuthenticator({ breakGlassToken: undefined, anonymousWithoutBreakGlass: true, tokens, holder: "an auditor's" });
    expect(await outcome(open(withAuthorization(`Bearer ${await tokenWith("policy:read", { act: { sub: "svc-a" } })}`), READ))).toBe(refusal);
  });

  it("refuses a token a client got for a user (jwt-bearer, the dedicated issuer: sub is not client_id) with invalid_token, even with the scope", async () => {
    const forUser = withAuthorization(`Bearer ${await tokenWith("policy:write audit:read", { sub: "carol" })}`);
    const refusal =
      "invalid_token: a token issued to a client for a user is not accepted here: operators and auditors present their own client_credentials tokens";
    expect(await outcome(strict(forUser, WRITE))).toBe(refusal);
    const open = callerAuthenticator({ breakGlassToken: undefined, anonymousWithoutBreakGlass: true, tokens, holder: "an auditor's" });
    expect(await outcome(open(forUser, ["audit:read"]))).toBe(refusal);
  });

  it("takes the break-glass secret for every call, as break-glass, and still checks any other credential", async () => {
    const withSecret = callerAuthenticator({ breakGlassToken: SECRET, anonymousWithoutBreakGlass: false, tokens, holder: "an operator's" });
    expect(await outcome(withSecret(withAuthorization(`Bearer ${SECRET}`), WRITE))).toEqual({
      credential: "break_glass",
      sub: "break-glass",
      client_id: "",
      jti: "",
    });
    expect(await outcome(withSecret(withAuthorization(`Bearer ${SECRET}x`), WRITE))).toMatch(/^invalid_token: /);
    expect(await outcome(withSecret(withAuthorization(undefined), READ))).toMatch(/^invalid_token: /);
    expect(await outcome(withSecret(withAuthorization(`Bearer ${await tokenWith("policy:write")}`), WRITE))).toMatchObject({ sub: "ops-carol" });
  });

  it("lets a call with no credential in as anonymous only where the API allows it and no break-glass secret is set", async () => {
    const open = callerAuthenticator({ breakGlassToken: undefined, anonymousWithoutBreakGlass: true, tokens, holder: "an auditor's" });
    expect(await outcome(open(withAuthorization(undefined), READ))).toEqual({ credential: "none", sub: "anonymous", client_id: "", jti: "" });
    expect(await outcome(open(withAuthorization("Bearer garbage"), READ))).toMatch(/^invalid_token: /);
    const guarded = callerAuthenticator({ breakGlassToken: SECRET, anonymousWithoutBreakGlass: true, tokens, holder: "an auditor's" });
    expect(await outcome(guarded(withAuthorization(undefined), READ))).toBe("invalid_token: this call needs an auditor's access token as a bearer");
  });
});
