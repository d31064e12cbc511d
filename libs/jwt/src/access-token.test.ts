import { describe, expect, it } from "vitest";
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair } from "jose";
import {
  MAX_LINEAGE,
  OWN_PROFILE,
  TokenRejected,
  VerifiedTokens,
  foreignProfile,
  isTokenRevoked,
  lineageWithActor,
  revocableClaimsOf,
  verifyAccessToken,
} from "./index.js";
import type { RevocableClaims, RevocationState } from "./index.js";

const NOW = 1_800_000_000;
/** Revocation state that revokes nothing. */
const NOT_REVOKED = { isRevoked: () => false, subjectRevokedAt: () => undefined, isKeyWithdrawn: () => false };

async function setup() {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: "k", alg: "ES256" }] });
  const token = await new SignJWT({ iss: "https://sts", sub: "u", aud: "B", iat: NOW, exp: NOW + 60, jti: "j1", client_id: "c", scope: "b" })
    .setProtectedHeader({ alg: "ES256", kid: "k", typ: "at+jwt" })
    .sign(privateKey);
  return { keys, token };
}

const reason = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => "accepted",
    (e: unknown) => (e instanceof TokenRejected ? e.reason : "other"),
  );

describe("verifyAccessToken with a verified-token cache", () => {
  it("skips the signature on a repeat but still checks revocation, expiry and audience", async () => {
    const { keys, token } = await setup();
    const verified = new VerifiedTokens();
    let revoked = false;
    let now = NOW;
    const options = {
      key: keys,
      algorithms: ["ES256"],
      issuer: "https://sts",
      audience: "B",
      clockTolerance: 0,
      now: () => now,
      maxBytes: 8192,
      revocations: { ...NOT_REVOKED, isRevoked: () => revoked },
      verified,
    };
    expect(await reason(verifyAccessToken(token, options))).toBe("accepted");
    // A key set that knows nothing: only a cache hit can accept.
    const blind = { ...options, key: createLocalJWKSet({ keys: [] }) };
    expect(await reason(verifyAccessToken(token, blind))).toBe("accepted");
    expect(await reason(verifyAccessToken(token, { ...blind, audience: "C" }))).toBe("audience");
    revoked = true;
    expect(await reason(verifyAccessToken(token, blind))).toBe("revoked");
    revoked = false;
    now = NOW + 61;
    // Past exp the cache no longer answers for the token: the blind key set cannot verify it, and the real one finds it expired.
    expect(await reason(verifyAccessToken(token, blind))).toBe("unknown_key");
    expect(await reason(verifyAccessToken(token, options))).toBe("expired");
  });
});

describe("a revoked token's rejection", () => {
  const revokedBy = (keys: Awaited<ReturnType<typeof setup>>["keys"], verified?: VerifiedTokens) => ({
    key: keys,
    ...{ algorithms: ["ES256"], issuer: "https://sts", clockTolerance: 0, now: () => NOW, maxBytes: 8192 },
    revocations: { ...NOT_REVOKED, isRevoked: () => true },
    ...(verified && { verified }),
  });
  const rejection = (p: Promise<unknown>): Promise<TokenRejected> =>
    p.then(
      () => expect.fail("accepted"),
      (e: unknown) => e as TokenRejected,
    );

  it("names the verified token (iss, sub, jti), fresh or from the cache, and keeps the names out of the error's own members", async () => {
    const { keys, token } = await setup();
    const names = { iss: "https://sts", sub: "u", jti: "j1" };
    const fresh = await rejection(verifyAccessToken(token, revokedBy(keys)));
    expect([fresh.reason, fresh.names]).toEqual(["revoked", names]);
    // A logger that copies an error's own members (pino's serialiser does) never copies the subject.
    expect(Object.keys(fresh)).not.toContain("names");
    expect(JSON.stringify(fresh)).not.toContain('"u"');
    const verified = new VerifiedTokens();
    expect(await reason(verifyAccessToken(token, { ...revokedBy(keys, verified), revocations: NOT_REVOKED }))).toBe("accepted");
    expect((await rejection(verifyAccessToken(token, revokedBy(keys, verified)))).names).toEqual(names);
  });

  it("names nothing when the signature did not verify", async () => {
    const { token } = await setup();
    const err = await rejection(verifyAccessToken(token, revokedBy((await setup()).keys)));
    expect([err.reason, err.names]).toEqual(["signature", undefined]);
  });
});

describe("verifyAccessToken and a withdrawn signing key", () => {
  it("refuses a token its issuer's withdrawn key signed, verified afresh or from the cache, while its key set still holds the key", async () => {
    const { keys, token } = await setup();
    const verified = new VerifiedTokens();
    let withdrawn: readonly [string, string] | undefined;
    const options = {
      key: keys,
      algorithms: ["ES256"],
      issuer: "https://sts",
      audience: "B",
      clockTolerance: 0,
      now: () => NOW,
      maxBytes: 8192,
      revocations: { ...NOT_REVOKED, isKeyWithdrawn: (iss: string, kid: string) => withdrawn?.[0] === iss && withdrawn[1] === kid },
      verified,
    };
    expect(await reason(verifyAccessToken(token, options))).toBe("accepted");
    // Another issuer's key of the same kid, or another kid of ours: not this token's key.
    withdrawn = ["https://idp", "k"];
    expect(await reason(verifyAccessToken(token, options))).toBe("accepted");
    withdrawn = ["https://sts", "k2"];
    expect(await reason(verifyAccessToken(token, options))).toBe("accepted");
    withdrawn = ["https://sts", "k"];
    // The cache hit (a key set that knows nothing can only accept through it) and a fresh verification both refuse.
    expect(await reason(verifyAccessToken(token, { ...options, key: createLocalJWKSet({ keys: [] }) }))).toBe("revoked");
    expect(await reason(verifyAccessToken(token, { ...options, verified: new VerifiedTokens() }))).toBe("revoked");
  });
});

describe("verifyAccessToken and a token that names no key", () => {
  it("refuses one of ours without a kid, though the key set's only key verifies it: a withdrawal is recorded by kid", async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: "k", alg: "ES256" }] });
    const claims = { sub: "u", aud: "B", iat: NOW, exp: NOW + 60, jti: "j1", client_id: "c" };
    const kidless = (iss: string, typ: string) => new SignJWT({ ...claims, iss }).setProtectedHeader({ alg: "ES256", typ }).sign(privateKey);
    const options = { key: keys, algorithms: ["ES256"], audience: "B", clockTolerance: 0, now: () => NOW, maxBytes: 8192, revocations: NOT_REVOKED };
    expect(await reason(verifyAccessToken(await kidless("https://sts", "at+jwt"), { ...options, issuer: "https://sts" }))).toBe("unknown_key");
    // Another issuer's tokens are its own affair: jose's single-key match stands there.
    const foreign = { ...options, issuer: "https://idp", profile: foreignProfile(["at+jwt", "JWT"]) };
    expect(await reason(verifyAccessToken(await kidless("https://idp", "JWT"), foreign))).toBe("accepted");
  });
});

describe("verifyAccessToken with another issuer's profile", () => {
  it("takes client_id from azp when absent, and still requires jti; this stack's profile requires client_id", async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: "k", alg: "ES256" }] });
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT({ iss: "https://idp", sub: "u", aud: "edge", iat: NOW, exp: NOW + 60, ...claims })
        .setProtectedHeader({ alg: "ES256", kid: "k", typ: "JWT" })
        .sign(privateKey);
    const options = { key: keys, algorithms: ["ES256"], issuer: "https://idp", clockTolerance: 0, now: () => NOW, maxBytes: 8192, revocations: NOT_REVOKED };
    const foreign = { ...options, profile: foreignProfile(["at+jwt", "JWT"]) };
    const withAzp = await verifyAccessToken(await sign({ jti: "j", azp: "web-app" }), foreign);
    expect(withAzp.payload.client_id).toBe("web-app");
    expect((await verifyAccessToken(await sign({ jti: "j2" }), foreign)).payload.client_id).toBe("");
    expect(await reason(verifyAccessToken(await sign({ azp: "web-app" }), foreign))).toBe("missing_claim");
    expect(await reason(verifyAccessToken(await sign({ jti: "j3", azp: "web-app" }), { ...options, profile: OWN_PROFILE }))).not.toBe("accepted");
  });

  it("refuses a security event token (a back-channel logout token) whatever it is typed, under either profile", async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: "k", alg: "ES256" }] });
    const events = { "http://schemas.openid.net/event/backchannel-logout": {} };
    const sign = (iss: string, typ: string, claims: Record<string, unknown> = {}) =>
      new SignJWT({ iss, sub: "u", aud: "edge", iat: NOW, exp: NOW + 60, jti: "j", client_id: "web-app", ...claims })
        .setProtectedHeader({ alg: "ES256", kid: "k", typ })
        .sign(privateKey);
    const options = { key: keys, algorithms: ["ES256"], clockTolerance: 0, now: () => NOW, maxBytes: 8192, revocations: NOT_REVOKED };
    const foreign = { ...options, issuer: "https://idp", profile: foreignProfile(["JWT"]) };
    expect(await reason(verifyAccessToken(await sign("https://idp", "JWT"), foreign))).toBe("accepted");
    expect(await reason(verifyAccessToken(await sign("https://idp", "JWT", { events }), foreign))).toBe("type");
    expect(await reason(verifyAccessToken(await sign("https://sts", "at+jwt", { events }), { ...options, issuer: "https://sts" }))).toBe("type");
  });

  it("refuses one of our tokens whose sub_id does not clearly name the subject's issuer", async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: "k", alg: "ES256" }] });
    const ours = (sub_id: unknown) =>
      new SignJWT({ iss: "https://sts", sub: "u", aud: "B", iat: NOW, exp: NOW + 60, jti: "j", client_id: "c", sub_id })
        .setProtectedHeader({ alg: "ES256", kid: "k", typ: "at+jwt" })
        .sign(privateKey);
    const options = { key: keys, algorithms: ["ES256"], issuer: "https://sts", clockTolerance: 0, now: () => NOW, maxBytes: 8192, revocations: NOT_REVOKED };
    expect(await reason(verifyAccessToken(await ours({ format: "iss_sub", iss: "https://idp", sub: "u" }), options))).toBe("accepted");
    for (const bad of [{ format: "iss_sub", iss: "https://idp", sub: "someone-else" }, { format: "email", email: "u@x" }, "https://idp"]) {
      expect(await reason(verifyAccessToken(await ours(bad), options))).toBe("invalid_claim");
    }
  });

  it("does not let a cache hit for another issuer's token pass where this stack's tokens are expected", async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: "k", alg: "ES256" }] });
    const token = await new SignJWT({ iss: "https://idp", sub: "edge", aud: "edge", iat: NOW, exp: NOW + 60, jti: "j", azp: "edge" })
      .setProtectedHeader({ alg: "ES256", kid: "k", typ: "JWT" })
      .sign(privateKey);
    const verified = new VerifiedTokens();
    const common = { key: keys, algorithms: ["ES256"], clockTolerance: 0, now: () => NOW, maxBytes: 8192, revocations: NOT_REVOKED, verified };
    expect(await reason(verifyAccessToken(token, { ...common, issuer: "https://idp", profile: foreignProfile("JWT") }))).toBe("accepted");
    expect(await reason(verifyAccessToken(token, { ...common, issuer: "https://sts" }))).toBe("issuer");
  });
});

describe("verifyAccessToken and the lineage claim", () => {
  async function signer(iss: string, typ: string) {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: "k", alg: "ES256" }] });
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT({ iss, sub: "u", aud: "C", iat: NOW, exp: NOW + 60, jti: "at3", client_id: "svc-b", ...claims })
        .setProtectedHeader({ alg: "ES256", kid: "k", typ })
        .sign(privateKey);
    return { keys, sign };
  }

  it("refuses a token once any token of ours it was exchanged from is revoked, cached or not", async () => {
    const { keys, sign } = await signer("https://sts", "at+jwt");
    const token = await sign({ lineage: ["at2", "at1"] });
    const revoked = new Set<string>();
    const verified = new VerifiedTokens();
    const options = {
      key: keys,
      algorithms: ["ES256"],
      issuer: "https://sts",
      clockTolerance: 0,
      now: () => NOW,
      maxBytes: 8192,
      revocations: { ...NOT_REVOKED, isRevoked: (j: string) => revoked.has(j) },
      verified,
    };
    expect((await verifyAccessToken(token, options)).payload.lineage).toEqual(["at2", "at1"]);
    revoked.add("at1");
    // The second call is a cache hit (the signature is not checked again); its lineage is checked all the same.
    expect(await reason(verifyAccessToken(token, options))).toBe("revoked");
    expect(await reason(verifyAccessToken(token, { ...options, verified: new VerifiedTokens() }))).toBe("revoked");
    revoked.clear();
    revoked.add("unrelated");
    expect(await reason(verifyAccessToken(token, options))).toBe("accepted");
  });

  it("refuses a malformed lineage rather than skip its revocation check", async () => {
    const { keys, sign } = await signer("https://sts", "at+jwt");
    const options = { key: keys, algorithms: ["ES256"], issuer: "https://sts", clockTolerance: 0, now: () => NOW, maxBytes: 8192, revocations: NOT_REVOKED };
    for (const lineage of ["at1", [1], [""], [{ jti: "at1" }], Array.from({ length: 40 }, (_, i) => `j${i}`)]) {
      expect(await reason(verifyAccessToken(await sign({ lineage }), options))).toBe("invalid_claim");
    }
    // As long as Mint makes it, whatever the act depth allowed: an actor token's lineage merged in makes it longer.
    const longest = await sign({ lineage: Array.from({ length: 33 }, (_, i) => `j${i}`) });
    expect(await reason(verifyAccessToken(longest, { ...options, maxActDepth: 8 }))).toBe("accepted");
  });

  /** Verification of a trusted provider's token (https://idp, typ JWT) against these revocations. */
  const providerOptions = (keys: ReturnType<typeof createLocalJWKSet>, revocations: RevocationState) => ({
    key: keys,
    algorithms: ["ES256"],
    issuer: "https://idp",
    clockTolerance: 0,
    now: () => NOW,
    maxBytes: 8192,
    revocations,
    profile: foreignProfile("JWT"),
  });

  it("refuses a malformed origin_iat (not a number, after iat), and revokes by a well-formed one", async () => {
    const { keys, sign } = await signer("https://sts", "at+jwt");
    const revokedAt = (at: number): RevocationState => ({
      ...NOT_REVOKED,
      subjectRevokedAt: (iss, sub) => (iss === "https://sts" && sub === "u" ? at : undefined),
    });
    const options = { key: keys, algorithms: ["ES256"], issuer: "https://sts", clockTolerance: 0, now: () => NOW, maxBytes: 8192, revocations: NOT_REVOKED };
    for (const origin_iat of [String(NOW - 10), NOW + 1, null, [NOW - 10]]) {
      expect(await reason(verifyAccessToken(await sign({ origin_iat }), options))).toBe("invalid_claim");
    }
    const late = await sign({ origin_iat: NOW - 10 });
    expect((await verifyAccessToken(late, options)).payload.origin_iat).toBe(NOW - 10);
    // Revoked after the chain began, before this hop was issued: covered.
    expect(await reason(verifyAccessToken(late, { ...options, revocations: revokedAt(NOW - 5) }))).toBe("revoked");
    expect(await reason(verifyAccessToken(late, { ...options, revocations: revokedAt(NOW - 11) }))).toBe("accepted");
  });

  it("refuses a malformed origin_client_id, and revokes a chain by the client it began with", async () => {
    const { keys, sign } = await signer("https://sts", "at+jwt");
    const options = { key: keys, algorithms: ["ES256"], issuer: "https://sts", clockTolerance: 0, now: () => NOW, maxBytes: 8192, revocations: NOT_REVOKED };
    for (const origin_client_id of ["", 7, null, ["webapp"], "c".repeat(257)]) {
      expect(await reason(verifyAccessToken(await sign({ origin_client_id }), options))).toBe("invalid_claim");
    }
    // A hop made by svc-a from a token issued to webapp: its own client_id is svc-a.
    const hop = await sign({ client_id: "svc-a", origin_client_id: "webapp", origin_iat: NOW - 10 });
    expect((await verifyAccessToken(hop, options)).payload.origin_client_id).toBe("webapp");
    const clientRevokedAt = (at: number): RevocationState => ({
      ...NOT_REVOKED,
      subjectRevokedAt: (iss, sub) => (iss === "https://sts" && sub === "webapp" ? at : undefined),
    });
    // webapp revoked after the chain began: covered however late the hop was made; before it began: untouched.
    expect(await reason(verifyAccessToken(hop, { ...options, revocations: clientRevokedAt(NOW - 5) }))).toBe("revoked");
    expect(await reason(verifyAccessToken(hop, { ...options, revocations: clientRevokedAt(NOW - 11) }))).toBe("accepted");
    expect(isTokenRevoked(revocableClaimsOf(hop) as RevocableClaims, clientRevokedAt(NOW - 5))).toBe(true);
  });

  it("refuses a malformed lineage_kids, and revokes a token, verified afresh or from the cache, once a key that signed its ancestors is withdrawn", async () => {
    const { keys, sign } = await signer("https://sts", "at+jwt");
    const options = { key: keys, algorithms: ["ES256"], issuer: "https://sts", clockTolerance: 0, now: () => NOW, maxBytes: 8192, revocations: NOT_REVOKED };
    const tooMany = Array.from({ length: 34 }, (_, i) => `k${i}`);
    for (const lineage_kids of [[], "k1", [7], [""], ["k1", "k1"], ["k".repeat(257)], tooMany, null]) {
      expect(await reason(verifyAccessToken(await sign({ lineage_kids }), options))).toBe("invalid_claim");
    }
    // Signed by k, exchanged from a token k1 signed (itself from one k0 signed).
    const hop = await sign({ lineage: ["at2", "at1"], lineage_kids: ["k1", "k0"] });
    const verified = new VerifiedTokens();
    let withdrawn: readonly [string, string] | undefined;
    const watching = {
      ...options,
      verified,
      revocations: { ...NOT_REVOKED, isKeyWithdrawn: (i: string, k: string) => withdrawn?.[0] === i && withdrawn[1] === k },
    };
    expect(await verifyAccessToken(hop, watching)).toMatchObject({ payload: { lineage_kids: ["k1", "k0"] }, kid: "k" });
    // A cache hit (no key to check a signature with) names the key too: the exchanger lists it in the next hop's lineage_kids.
    expect((await verifyAccessToken(hop, { ...watching, key: createLocalJWKSet({ keys: [] }) })).kid).toBe("k");
    // Another issuer's k0 is another key.
    withdrawn = ["https://idp", "k0"];
    expect(await reason(verifyAccessToken(hop, watching))).toBe("accepted");
    withdrawn = ["https://sts", "k0"];
    expect(await reason(verifyAccessToken(hop, { ...watching, key: createLocalJWKSet({ keys: [] }) }))).toBe("revoked");
    expect(await reason(verifyAccessToken(hop, { ...watching, verified: new VerifiedTokens() }))).toBe("revoked");
  });

  it("does not read another issuer's lineage claim as jtis of ours", async () => {
    const { keys, sign } = await signer("https://idp", "JWT");
    const options = providerOptions(keys, {
      ...NOT_REVOKED,
      isRevoked: (j: string) => j === "ours-revoked",
      isKeyWithdrawn: (_iss: string, kid: string) => kid === "ours-withdrawn",
    });
    const { payload } = await verifyAccessToken(
      await sign({ lineage: ["ours-revoked"], origin_iat: NOW - 100, origin_client_id: "webapp", lineage_kids: ["ours-withdrawn"] }),
      options,
    );
    expect(payload.lineage).toBeUndefined();
    // Nor its origin_iat as ours: its chain is judged by its own iat.
    expect(payload.origin_iat).toBeUndefined();
    // Nor its origin_client_id as a client of ours.
    expect(payload.origin_client_id).toBeUndefined();
    // Nor its lineage_kids as keys of ours.
    expect(payload.lineage_kids).toBeUndefined();
  });

  it("revokes a provider's token by its own iss and sub, whatever sub_id it carries (its word, not ours)", async () => {
    const { keys, sign } = await signer("https://idp", "JWT");
    const token = await sign({ sub_id: { format: "iss_sub", iss: "https://sts", sub: "u" } });
    const revokedSubject = (iss: string): RevocationState => ({ ...NOT_REVOKED, subjectRevokedAt: (i, s) => (i === iss && s === "u" ? NOW : undefined) });
    expect(await reason(verifyAccessToken(token, providerOptions(keys, revokedSubject("https://idp"))))).toBe("revoked");
    const { payload } = await verifyAccessToken(token, providerOptions(keys, revokedSubject("https://sts")));
    expect(payload.sub_id).toBeUndefined();
  });
});

describe("lineageWithActor", () => {
  it("carries the subject's lineage, then the actor token's jti and lineage, each jti once", () => {
    expect(lineageWithActor(["at2", "at1"], { jti: "actor2", lineage: ["actor1", "at1"] })).toEqual(["at2", "at1", "actor2", "actor1"]);
    expect(lineageWithActor([], { jti: "actor" })).toEqual(["actor"]);
  });

  it("gives nothing when the result would not fit a verifier's bound", () => {
    const subject = Array.from({ length: MAX_LINEAGE - 1 }, (_, i) => `s${i}`);
    expect(lineageWithActor(subject, { jti: "actor" })).toHaveLength(MAX_LINEAGE);
    expect(lineageWithActor(subject, { jti: "actor", lineage: ["a1"] })).toBeUndefined();
  });
});
