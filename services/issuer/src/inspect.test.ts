/**
 * Which tokens of ours inspection calls active: the one answer behind UserInfo, client management's admin
 * credential, introspection and revocation. Tokens are real ES256 JWTs checked against the public key.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair } from "jose";
import type { PublicKeyRing } from "@sts/keys";
import type { RevocationList } from "@sts/revocation";
import { inspectToken } from "./inspect.js";
import type { InspectDeps } from "./inspect.js";
import type { OpaqueTokens } from "./opaque-tokens.js";

const ISSUER = "https://sts.test";
const T = 1_800_000_000;
const TOLERANCE = 30;

/** Inspection deps on one ES256 key, with nothing revoked and the clock at `now`. */
async function depsAt(now: number): Promise<{ deps: InspectDeps; sign: (claims: Record<string, unknown>) => Promise<string> }> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" }] });
  const nothingRevoked = { isRevoked: () => false, subjectRevokedAt: () => undefined, isKeyWithdrawn: () => false };
  const deps: InspectDeps = {
    issuer: ISSUER,
    keys: { keyResolver: () => jwks } as unknown as PublicKeyRing,
    algorithms: ["ES256"],
    revocations: nothingRevoked as unknown as RevocationList,
    opaque: {} as OpaqueTokens,
    now: () => now,
    clockTolerance: TOLERANCE,
    maxBytes: 16_384,
  };
  const sign = (claims: Record<string, unknown>): Promise<string> =>
    new SignJWT(claims).setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid: "k1" }).sign(privateKey);
  return { deps, sign };
}

/** An access token of ours for alice, issued at T, expiring at T + 300. */
const claims = (): Record<string, unknown> => ({
  iss: ISSUER,
  sub: "alice",
  aud: "storage",
  client_id: "app",
  scope: "openid email",
  iat: T,
  exp: T + 300,
  jti: randomUUID(),
});

describe("inspectToken", () => {
  it("calls a JWT of ours active up to its exp by this server's clock, not for the clock tolerance after (RFC 7662 §2.2, RFC 6750 §3.1)", async () => {
    const before = await depsAt(T + 299);
    expect((await inspectToken(await before.sign(claims()), before.deps))?.sub).toBe("alice");
    // Past exp, within the tolerance other verifiers grant: not active here (UserInfo answers invalid_token).
    const after = await depsAt(T + 300 + TOLERANCE / 2);
    expect(await inspectToken(await after.sign(claims()), after.deps)).toBeUndefined();
  });

  it("still finds a JWT just past its exp for its revocation, since verifiers elsewhere accept it within their tolerance (RFC 7009)", async () => {
    const { deps, sign } = await depsAt(T + 300 + TOLERANCE / 2);
    expect((await inspectToken(await sign(claims()), deps, true))?.sub).toBe("alice");
  });
});
