/**
 * Federation with revocation: a trusted issuer configured with an RFC 7662
 * introspection endpoint is asked, after its token passed every local check,
 * whether the token is still active there, so a token it revoked (a logout,
 * a session ended) can no longer be exchanged before it expires. The
 * providers are real HTTPS servers on loopback (a throwaway CA the services
 * trust) and the stack real processes; no answer from a provider fails the
 * exchange closed.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_TYPES } from "@sts/nats";
import { freePort, makeTestCa } from "@sts/testkit";
import { basicAuth, claimsOf, leakedTokens, postForm, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT, clients, exchange as grpcExchange } from "./chain.js";
import { startIdentityProvider } from "./identity-provider.js";
import type { IdentityProvider } from "./identity-provider.js";
import { parseSamples, total } from "./prometheus.js";

/** Introspects, secret in a file, active answers reused one second. */
const IDP = "https://idp.test.example/realms/main";
/** Introspects, secret from an environment variable; its server is stopped mid-test. */
const IDP_DOWN = "https://idp-down.test.example/realms/main";
/** Introspects; its endpoint fails for a while, which opens the exchanger's circuit breaker for it. */
const IDP_FLAKY = "https://idp-flaky.test.example/realms/main";
/** Does not introspect: checked as before, signature, claims and exp only. */
const IDP_PLAIN = "https://idp-plain.test.example/realms/main";

const CACHE_TTL_S = 1;
const TIMEOUT_MS = 1_000;
const CLIENT = { id: "sts-exchanger", secret: "introspection-secret-0001" };
const DOWN_CLIENT = { id: "sts-exchanger", secret: "introspection-secret-0002" };

let dir: string;
let stack: Stack;
let idp: IdentityProvider;
let down: IdentityProvider;
let plain: IdentityProvider;
let flaky: IdentityProvider;
/** The exchanger's admin port, for its metrics. */
let adminUrl: string;
/** Every provider token the tests made, to check that none reached a log or an event. */
const tokens: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sts-federation-introspection-"));
  const ca = makeTestCa(dir, "idp-ca");
  [idp, down, plain, flaky] = await Promise.all([
    startIdentityProvider({ issuer: IDP, ca, name: "idp", client: CLIENT }),
    startIdentityProvider({ issuer: IDP_DOWN, ca, name: "idp-down", client: DOWN_CLIENT }),
    startIdentityProvider({ issuer: IDP_PLAIN, ca, name: "idp-plain" }),
    startIdentityProvider({ issuer: IDP_FLAKY, ca, name: "idp-flaky", client: CLIENT }),
  ]);
  const secretFile = join(dir, "idp-introspection-secret");
  writeFileSync(secretFile, `${CLIENT.secret}\n`);
  const adminPort = await freePort();
  adminUrl = `http://127.0.0.1:${adminPort}`;
  // Keycloak's profile: access and ID tokens both typ JWT, told apart by the payload's typ.
  const keycloak = { typ: ["JWT"], claims: { typ: "Bearer" } };
  stack = await startStack(
    {
      exchange: {
        trusted_issuers: [
          {
            issuer: IDP,
            jwks_uri: idp.jwksUri,
            ...keycloak,
            introspection: {
              endpoint: idp.introspectionEndpoint,
              client_id: CLIENT.id,
              client_secret_file: secretFile,
              cache_ttl: CACHE_TTL_S,
              timeout_ms: TIMEOUT_MS,
            },
          },
          {
            issuer: IDP_DOWN,
            jwks_uri: down.jwksUri,
            ...keycloak,
            introspection: { endpoint: down.introspectionEndpoint, client_id: DOWN_CLIENT.id, client_secret_env: "IDP_DOWN_INTROSPECTION_SECRET" },
          },
          { issuer: IDP_PLAIN, jwks_uri: plain.jwksUri, ...keycloak },
          {
            issuer: IDP_FLAKY,
            jwks_uri: flaky.jwksUri,
            ...keycloak,
            introspection: { endpoint: flaky.introspectionEndpoint, client_id: CLIENT.id, client_secret_file: secretFile, cache_ttl: 0 },
          },
        ],
      },
      policy: { hops: [{ from: "edge", to: "svc-a", scopes: ["a", "b"] }] },
      clients: [{ client_id: "edge", client_secret: SECRET, grant_types: [EXCHANGE_GRANT], audience: [] }],
    },
    {
      services: ["issuer", "policy", "exchanger", "gateway"],
      env: { NODE_EXTRA_CA_CERTS: ca.ca_file, IDP_DOWN_INTROSPECTION_SECRET: DOWN_CLIENT.secret, STS_EXCHANGER_ADMIN_PORT: String(adminPort) },
    },
  );
}, 90_000);

afterAll(async () => {
  await Promise.all([idp, down, plain, flaky].map((p) => p?.close()));
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A new access token of `provider`, remembered for the leak check. */
async function tokenOf(provider: IdentityProvider, claims: Record<string, unknown> = {}): Promise<{ token: string; jti: string }> {
  const token = await provider.token(claims);
  tokens.push(token);
  return { token, jti: claimsOf(token).jti as string };
}

const exchange = (subject: string) =>
  postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    { grant_type: EXCHANGE_GRANT, subject_token: subject, subject_token_type: TOKEN_TYPE_AT, audience: "svc-a", scope: "a b" },
    { authorization: basicAuth("edge", SECRET) },
  );

/** The token.exchanged events made from this provider token (their parent is `<issuer>#<jti>`). */
async function exchangedFrom(issuer: string, jti: string): Promise<number> {
  return (await storedEvents(stack.nats.url)).filter((e) => e.type === EVENT_TYPES.TOKEN_EXCHANGED && e.data.parent_jti === `${issuer}#${jti}`).length;
}

/** The exchange.denied events recording this provider token as the subject. */
/** The exchange.denied events of the provider's token `jti`, which they name as `<provider>#<jti>`, as token.exchanged names a parent. */
async function deniedFor(jti: string): Promise<Array<Record<string, unknown>>> {
  return (await storedEvents(stack.nats.url))
    .filter((e) => e.type === EVENT_TYPES.EXCHANGE_DENIED && e.data.subject_jti === `${IDP}#${jti}`)
    .map((e) => e.data);
}

describe("a trusted issuer that introspects (RFC 7662)", () => {
  it("is asked with client_secret_basic and the token, and its token is exchanged while it says active", async () => {
    const { token, jti } = await tokenOf(idp);
    const r = await exchange(token);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(claimsOf(r.body.access_token as string)).toMatchObject({ sub: "5b7f0c6e-alice", aud: "svc-a", sub_id: { iss: IDP } });
    // RFC 7662 §2.1: a POSTed form with the token and a hint, authenticated as the configured client (secret from its file).
    expect(idp.callsFor(token)).toEqual([
      {
        method: "POST",
        contentType: "application/x-www-form-urlencoded",
        authorization: basicAuth(CLIENT.id, CLIENT.secret),
        form: { token, token_type_hint: "access_token" },
      },
    ]);
    expect(await exchangedFrom(IDP, jti)).toBe(1);
  });

  it("refuses the token once the provider revoked it (after cache_ttl) with invalid_request, mints nothing and records the denial (RFC 8693 §2.2.2)", async () => {
    const { token, jti } = await tokenOf(idp);
    expect((await exchange(token)).status).toBe(200);
    idp.revoke(jti);
    // The exchanger's clock cannot be moved from outside its process: wait out the one-second reuse of the active answer.
    await new Promise((resolve) => setTimeout(resolve, CACHE_TTL_S * 1000 + 500));
    const r = await exchange(token);
    expect([r.status, r.body.error, r.body.access_token]).toEqual([400, "invalid_request", undefined]);
    expect(r.body.error_description).toMatch(/^subject_token rejected: no longer active at its issuer/);
    expect(idp.callsFor(token)).toHaveLength(2);
    expect(await exchangedFrom(IDP, jti)).toBe(1);
    expect(await deniedFor(jti)).toEqual([
      expect.objectContaining({
        error: "invalid_request",
        reason: expect.stringMatching(/no longer active at its issuer/) as unknown,
        subject_issuer: IDP,
        client_id: "edge",
      }),
    ]);
    // An inactive answer is remembered until the token expires: the provider is not asked again.
    expect((await exchange(token)).status).toBe(400);
    expect(idp.callsFor(token)).toHaveLength(2);
  });

  it("refuses a token when the provider's active answer names another subject", async () => {
    const { token, jti } = await tokenOf(idp);
    idp.reply = (t) => (t === token ? { body: JSON.stringify({ active: true, iss: IDP, sub: "someone-else", client_id: "web-app" }) } : undefined);
    try {
      const r = await exchange(token);
      expect([r.status, r.body.error, r.body.access_token]).toEqual([400, "invalid_request", undefined]);
      expect(r.body.error_description).toMatch(/introspection answer is about another token/);
      expect(await exchangedFrom(IDP, jti)).toBe(0);
      expect(await deniedFor(jti)).toHaveLength(1);
    } finally {
      idp.reply = undefined;
    }
  });

  it.each<[string, { status?: number; body: string; delayMs?: number }]>([
    ["answers 500", { status: 500, body: JSON.stringify({ active: true }) }],
    ["answers with something that is not JSON", { body: "<html>sign in</html>" }],
    ["answers without a boolean active", { body: JSON.stringify({ active: "true", sub: "5b7f0c6e-alice" }) }],
    ["answers after the timeout", { body: JSON.stringify({ active: true }), delayMs: TIMEOUT_MS + 500 }],
  ])("fails closed with temporarily_unavailable when the provider %s, and mints nothing", async (_, reply) => {
    const { token, jti } = await tokenOf(idp);
    idp.reply = (t) => (t === token ? reply : undefined);
    try {
      const r = await exchange(token);
      expect([r.status, r.body.error, r.body.access_token]).toEqual([503, "temporarily_unavailable", undefined]);
      expect(r.headers.get("retry-after")).not.toBeNull();
      expect(await exchangedFrom(IDP, jti)).toBe(0);
    } finally {
      idp.reply = undefined;
    }
    // No answer is never remembered: once the provider answers again, the same token goes through.
    expect((await exchange(token)).status).toBe(200);
  });

  it("asks once for many concurrent exchanges of one new token", async () => {
    const { token, jti } = await tokenOf(idp);
    // Slow enough that every exchange arrives while the first call is in flight.
    idp.reply = (t) => (t === token ? { body: JSON.stringify({ active: true, iss: IDP, sub: "5b7f0c6e-alice" }), delayMs: 300 } : undefined);
    try {
      const results = await Promise.all(Array.from({ length: 8 }, () => exchange(token)));
      expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
      expect(idp.callsFor(token)).toHaveLength(1);
      expect(await exchangedFrom(IDP, jti)).toBe(8);
    } finally {
      idp.reply = undefined;
    }
  });

  it("fails closed with temporarily_unavailable (gRPC UNAVAILABLE) once the provider's endpoint is down, and mints nothing", async () => {
    // Up: the secret from the environment is accepted, and the provider's key set is now cached by the exchanger.
    const before = await tokenOf(down);
    expect((await exchange(before.token)).status).toBe(200);
    expect(down.callsFor(before.token)[0]?.authorization).toBe(basicAuth(DOWN_CLIENT.id, DOWN_CLIENT.secret));
    await down.close();
    const { token, jti } = await tokenOf(down);
    const r = await exchange(token);
    expect([r.status, r.body.error, r.body.access_token]).toEqual([503, "temporarily_unavailable", undefined]);
    const c = clients(stack.address);
    try {
      const g = await grpcExchange(c.exchange, "edge", token, { audience: ["svc-a"], scope: "a" });
      expect(g.ok ? "minted" : [g.failure.grpcCode, g.failure.error]).toEqual([14, "temporarily_unavailable"]);
    } finally {
      c.close();
    }
    expect(await exchangedFrom(IDP_DOWN, jti)).toBe(0);
  });
});

describe("a trusted issuer whose introspection endpoint keeps failing", () => {
  it("is not asked while its breaker is open (exchanges fail closed at once), then is probed and used again", async () => {
    const before = await introspections();
    const first = await tokenOf(flaky);
    expect((await exchange(first.token)).status).toBe(200);
    flaky.reply = () => ({ status: 500, body: "{}" });
    try {
      // Four failures out of five calls: the breaker opens.
      for (let i = 0; i < 4; i++) expect((await exchange((await tokenOf(flaky)).token)).status).toBe(503);
      const shed = await tokenOf(flaky);
      const r = await exchange(shed.token);
      expect([r.status, r.body.error, r.body.access_token]).toEqual([503, "temporarily_unavailable", undefined]);
      expect(flaky.callsFor(shed.token)).toEqual([]);
      expect(await exchangedFrom(IDP_FLAKY, shed.jti)).toBe(0);
      expect(stack.processes.exchanger?.output()).toMatch(/idp-flaky[^\n]*breaker open/);
    } finally {
      flaky.reply = undefined;
    }
    // After the pause (5 s) one exchange probes the endpoint; its answer closes the breaker and calls resume.
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    const later = await tokenOf(flaky);
    expect((await exchange(later.token)).status).toBe(200);
    expect(flaky.callsFor(later.token)).toHaveLength(1);
    // Counted under its issuer: two answers, four failures, one exchange refused without a call.
    expect(grown(before, await introspections(), IDP_FLAKY)).toMatchObject({ active: 2, error: 4, not_asked: 1 });
  }, 30_000);
});

describe("a trusted issuer without introspection", () => {
  it("is not asked: its token is exchanged on its signature, claims and exp, as before", async () => {
    const { token, jti } = await tokenOf(plain);
    plain.revoke(jti);
    const r = await exchange(token);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(plain.calls).toEqual([]);
    expect(await exchangedFrom(IDP_PLAIN, jti)).toBe(1);
  });
});

describe("secrets", () => {
  it("never puts a provider token or an introspection secret in an event or a log", async () => {
    const logged = stack.processes.exchanger!.mark();
    // Tokens of its own, through each path that records or logs: exchanged, refused once revoked, failed closed.
    const exchanged = await tokenOf(idp);
    expect((await exchange(exchanged.token)).status).toBe(200);
    const revoked = await tokenOf(idp);
    idp.revoke(revoked.jti);
    expect((await exchange(revoked.token)).status).toBe(400);
    const failed = await tokenOf(idp);
    idp.reply = (t) => (t === failed.token ? { status: 500, body: "{}" } : undefined);
    try {
      expect((await exchange(failed.token)).status).toBe(503);
    } finally {
      idp.reply = undefined;
    }
    expect(await deniedFor(revoked.jti)).toHaveLength(1);
    const own = [exchanged.token, revoked.token, failed.token];
    const secrets = [CLIENT.secret, DOWN_CLIENT.secret, Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString("base64")];
    // The whole trail, and the whole of each log (outputSince throws rather than look at a cut one).
    const events = (await storedEvents(stack.nats.url)).map((e) => e.raw).join("\n");
    const logs = [stack.processes.exchanger!.outputSince(0), stack.processes.gateway!.outputSince(0)].join("\n");
    expect(leakedTokens(events, own)).toEqual([]);
    expect(leakedTokens(logs, own)).toEqual([]);
    // And those of the other tests of this file that ran (`tokens` holds this test's own too).
    expect(leakedTokens(`${events}\n${logs}`, tokens)).toEqual([]);
    for (const secret of secrets) {
      expect(events).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
    // Its failure was logged, naming the provider and what went wrong.
    expect(stack.processes.exchanger!.outputSince(logged)).toMatch(/idp\.test\.example\/realms\/main: introspection endpoint answered HTTP 500/);
  });
});

/** The exchanger's sts_federation_introspections_total by issuer and result, from one scrape; and the scrape's text. */
async function introspections(): Promise<{ count: (issuer: string, result: string) => number; text: string }> {
  const res = await fetch(`${adminUrl}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  const samples = parseSamples(text);
  return { count: (issuer, result) => total(samples, "sts_federation_introspections_total", { sts_issuer: issuer, sts_result: result }), text };
}

const RESULTS = ["active", "inactive", "mismatch", "error", "cached", "joined", "not_asked"] as const;

/** How much each result's count grew from `before` to `after`, for one issuer. */
function grown(
  before: Awaited<ReturnType<typeof introspections>>,
  after: Awaited<ReturnType<typeof introspections>>,
  issuer: string,
): Record<(typeof RESULTS)[number], number> {
  return Object.fromEntries(RESULTS.map((r) => [r, after.count(issuer, r) - before.count(issuer, r)])) as Record<(typeof RESULTS)[number], number>;
}

describe("metrics", () => {
  it("counts the checks by result and by issuer on the exchanger's metrics, without a token or a secret in the scrape", async () => {
    const before = await introspections();
    // Asked, then revoked: asked again once the one-second reuse is over (inactive), then that answer is remembered (cached).
    const revoked = await tokenOf(idp);
    expect((await exchange(revoked.token)).status).toBe(200);
    idp.revoke(revoked.jti);
    await new Promise((resolve) => setTimeout(resolve, CACHE_TTL_S * 1000 + 500));
    expect((await exchange(revoked.token)).status).toBe(400);
    expect((await exchange(revoked.token)).status).toBe(400);
    // An answer about another token (mismatch); a failure (error), then the same token once the provider answers (active).
    const lied = await tokenOf(idp);
    const failed = await tokenOf(idp);
    idp.reply = (t) =>
      t === lied.token
        ? { body: JSON.stringify({ active: true, iss: IDP, sub: "someone-else" }) }
        : t === failed.token
          ? { status: 500, body: "{}" }
          : undefined;
    try {
      expect((await exchange(lied.token)).status).toBe(400);
      expect((await exchange(failed.token)).status).toBe(503);
    } finally {
      idp.reply = undefined;
    }
    expect((await exchange(failed.token)).status).toBe(200);
    // Four exchanges of one new token while the first call is in flight: one asks (active), three join it.
    const shared = await tokenOf(idp);
    idp.reply = (t) => (t === shared.token ? { body: JSON.stringify({ active: true, iss: IDP, sub: "5b7f0c6e-alice" }), delayMs: 300 } : undefined);
    try {
      expect((await Promise.all(Array.from({ length: 4 }, () => exchange(shared.token)))).map((r) => r.status)).toEqual([200, 200, 200, 200]);
    } finally {
      idp.reply = undefined;
    }
    expect(idp.callsFor(shared.token)).toHaveLength(1);
    const after = await introspections();
    const idpGrew = grown(before, after, IDP);
    expect({ ...idpGrew, cached: undefined, joined: undefined }).toEqual({ active: 3, inactive: 1, mismatch: 1, error: 1, not_asked: 0 });
    // The remembered refusal, and the three that did not call: joined while the call was in flight, or (a slow
    // machine) answered from its one-second reuse just after.
    expect(idpGrew.cached + idpGrew.joined).toBe(4);
    // Each provider's checks are counted under its own issuer: none of this test's under the others.
    for (const other of [IDP_DOWN, IDP_PLAIN, IDP_FLAKY]) expect(grown(before, after, other), other).toEqual(Object.fromEntries(RESULTS.map((r) => [r, 0])));
    const own = [revoked.token, lied.token, failed.token, shared.token];
    expect(leakedTokens(after.text, own)).toEqual([]);
    for (const secret of [CLIENT.secret, DOWN_CLIENT.secret]) expect(after.text).not.toContain(secret);
  });
});
