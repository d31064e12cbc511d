/**
 * Subject revocation ("sign this user out everywhere"): an operator calls the
 * issuer's RevokeSubject (through `stsctl subject revoke` or gRPC) with its own
 * access token, and every token of that subject issued until then stops
 * working everywhere: introspection, exchange (at every hop of a chain),
 * sidecars (inbound, and cached exchanges for the next hop), refresh token
 * families (the dedicated token issuer's jwt-bearer grant), assertions
 * signed before it, and hops exchanged after it by an exchanger that had not
 * seen it yet (cut off from NATS). A federated
 * subject is named by its provider (RFC 9493 sub_id), never confused with
 * this stack's subject of the same `sub`. Real nats-server, issuer (two
 * replicas), policy, exchanger, gateway, audit and sidecar processes, and a
 * real HTTPS identity provider.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey } from "jose";
import { EVENT_TYPES } from "@sts/nats";
import type { IntrospectResponse__Output, RevokeSubjectResponse__Output, TokenServiceClient } from "@sts/proto";
import { freePort, makeTestCa, tcpOpen, waitFor } from "@sts/testkit";
import type { ProcessHandle } from "@sts/testkit";
import { ROOT, basicAuth, claimsOf, clientCredentialsToken, natsRelay, postForm, startSidecar, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT, bearer, call, clients, exchange as exchangeOver, tokenClient } from "./chain.js";
import { startIdentityProvider } from "./identity-provider.js";
import type { IdentityProvider } from "./identity-provider.js";

const IDP = "https://idp.test.example/realms/main";
const ADMIN = "admin:test/vo_1";
const MANAGED = "batch-workload";
/** A second managed workload, revoked by one test only: the others' chains begin with MANAGED. */
const MANAGED_REVOKED = "batch-workload-revoked";
/** A workload that signs its own RFC 7523 assertions for absent users (with the admin's key pair, for brevity). */
const SIGNER = "batch-signer";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const run = promisify(execFile);

let dir: string;
let stack: Stack;
let idp: IdentityProvider;
let adminKey: CryptoKey;
let grpc: ReturnType<typeof clients>;
/** The second issuer replica's TokenService. */
let replica: TokenServiceClient;
let sidecar: ProcessHandle;
let workload: HttpServer;
let nextHop: HttpServer;
const sidecarPorts = { inbound: 0, outbound: 0 };
/** The bearer tokens the next hop (behind sidecar A's route svc-b) received, in order. */
const nextHopSaw: string[] = [];
/** Every token this file obtained: none may appear in a stored event. */
const obtained: string[] = [];
const now = (): number => Math.floor(Date.now() / 1000);

/** A user id of this test's own, so no test depends on another's revocations. */
const user = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;

const listen = (server: HttpServer): Promise<number> =>
  new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sts-subject-revocation-"));
  const ca = makeTestCa(dir, "idp-ca");
  idp = await startIdentityProvider({ issuer: IDP, ca, name: "idp" });
  const pair = await generateKeyPair("ES256", { extractable: true });
  adminKey = pair.privateKey;
  workload = createServer((_req, res) => res.writeHead(200).end("ok"));
  nextHop = createServer((req, res) => {
    nextHopSaw.push((req.headers.authorization ?? "").slice("Bearer ".length));
    res.writeHead(200).end("ok");
  });
  const [workloadPort, nextHopPort] = [await listen(workload), await listen(nextHop)];
  sidecarPorts.inbound = await freePort();
  sidecarPorts.outbound = await freePort();
  stack = await startStack(
    {
      tokens: { clock_tolerance: 0 },
      exchange: { trusted_issuers: [{ issuer: IDP, jwks_uri: idp.jwksUri, typ: ["JWT"], claims: { typ: "Bearer" } }] },
      policy: {
        hops: [
          { from: "edge", to: "svc-a", scopes: ["a", "b", "c"] },
          { from: "svc-a", to: "svc-b", scopes: ["b", "c"] },
          { from: "svc-b", to: "svc-c", scopes: ["c"] },
          // A workload of its own for the test that revokes one: svc-a → svc-w → svc-c → svc-d.
          { from: "svc-a", to: "svc-w", scopes: ["b", "c"] },
          { from: "svc-w", to: "svc-c", scopes: ["c"] },
          { from: "svc-c", to: "svc-d", scopes: ["c"] },
        ],
      },
      clients: [
        {
          client_id: ADMIN,
          admin: true,
          token_endpoint_auth_method: "private_key_jwt",
          jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "admin-key", alg: "ES256" }] },
          grant_types: ["client_credentials"],
          audience: ["storage"],
          // The dedicated issuer mints within what its admin manages now.
          manages: { audience: ["svc-a"], scope: ["a", "b", "c"] },
        },
        {
          client_id: SIGNER,
          token_endpoint_auth_method: "private_key_jwt",
          jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "admin-key", alg: "ES256" }] },
          grant_types: [JWT_BEARER],
          scope: ["a"],
          audience: ["svc-a"],
        },
        // A workload that gets tokens for absent users from the dedicated token issuer, with refresh tokens.
        {
          client_id: MANAGED,
          admin_client_id: ADMIN,
          client_secret: SECRET,
          grant_types: ["refresh_token"],
          scope: ["a", "b", "c"],
          audience: ["svc-a"],
        },
        {
          client_id: MANAGED_REVOKED,
          admin_client_id: ADMIN,
          client_secret: SECRET,
          grant_types: ["refresh_token"],
          scope: ["a", "b", "c"],
          audience: ["svc-a"],
        },
        { client_id: "edge", client_secret: SECRET, grant_types: [EXCHANGE_GRANT], audience: [] },
        ...["svc-a", "svc-b", "svc-c"].map((id) => ({
          client_id: id,
          client_secret: SECRET,
          grant_types: ["client_credentials", EXCHANGE_GRANT],
          audience: [],
        })),
        { client_id: "svc-w", client_secret: SECRET, grant_types: ["client_credentials", EXCHANGE_GRANT], audience: ["svc-c"] },
        // Operators: one that may revoke subjects, one with the audience but another scope.
        { client_id: "ops-revoker", client_secret: SECRET, scope: ["subjects:revoke", "audit:read"], audience: ["sts-issuer-admin", "sts-audit"] },
        { client_id: "ops-other", client_secret: SECRET, scope: ["subjects:read"], audience: ["sts-issuer-admin"] },
      ],
      sidecars: {
        "svc-a": {
          inbound: { port: sidecarPorts.inbound },
          outbound: { port: sidecarPorts.outbound },
          upstream: `http://127.0.0.1:${workloadPort}`,
          routes: { "svc-b": { url: `http://127.0.0.1:${nextHopPort}`, audience: "svc-b", scopes: ["b"] } },
        },
      },
    },
    // The services trust the provider's TLS certificate the way a deployment would add a private CA.
    { env: { NODE_EXTRA_CA_CERTS: ca.ca_file } },
  );
  grpc = clients(stack.address);
  const second = await stack.startReplica("issuer");
  replica = tokenClient(second.address);
  sidecar = await startSidecar(stack, "svc-a", SECRET, async () => (await tcpOpen(sidecarPorts.inbound)) && tcpOpen(sidecarPorts.outbound));
}, 120_000);

afterAll(async () => {
  await sidecar?.stop();
  replica?.close();
  grpc?.close();
  workload?.close();
  nextHop?.close();
  await idp?.close();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const remember = (token: string): string => (obtained.push(token), token);

/** An assertion signed with the admin's key pair (which SIGNER shares), for the token endpoint. */
const signed = (claims: Record<string, unknown>): Promise<string> =>
  new SignJWT({ aud: stack.gatewayUrl, jti: randomUUID(), exp: now() + 300, ...claims }).setProtectedHeader({ alg: "ES256", kid: "admin-key" }).sign(adminKey);

/** The jwt-bearer grant with `assertion`, the client (ADMIN for the dedicated issuer, or SIGNER) authenticated by private_key_jwt. */
const jwtBearer = async (client: string, assertion: string) =>
  postForm(`${stack.gatewayUrl}/oauth2/token`, {
    grant_type: JWT_BEARER,
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: await signed({ iss: client, sub: client, iat: now() }),
    assertion,
  });

/** The dedicated token issuer's unsigned assertion: the admin speaks for the managed workload and an absent user. */
const dtiAssertion = (sub: string, managed = MANAGED): string =>
  new UnsecuredJWT({ iss: managed, sub, jti: randomUUID(), iat: now(), exp: now() + 300, scope: "a b c" }).encode();

/** The dedicated token issuer: the admin starts a flow for the managed workload and an absent user. */
async function dti(sub: string, managed = MANAGED): Promise<{ access: string; refresh: string }> {
  const r = await jwtBearer(ADMIN, dtiAssertion(sub, managed));
  if (r.status !== 200) throw new Error(`DTI for ${sub}: ${r.status} ${JSON.stringify(r.body)}`);
  return { access: remember(r.body.access_token as string), refresh: remember(r.body.refresh_token as string) };
}

const refresh = (token: string) =>
  postForm(`${stack.gatewayUrl}/oauth2/token`, { grant_type: "refresh_token", refresh_token: token }, { authorization: basicAuth(MANAGED, SECRET) });

/** RFC 8693 exchange at the gateway by `caller`. */
const exchange = (caller: string, subject: string, audience: string, scope: string) =>
  postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    { grant_type: EXCHANGE_GRANT, subject_token: subject, subject_token_type: TOKEN_TYPE_AT, audience, scope },
    { authorization: basicAuth(caller, SECRET) },
  );
const exchanged = async (caller: string, subject: string, audience: string, scope: string): Promise<string> => {
  const r = await exchange(caller, subject, audience, scope);
  if (r.status !== 200) throw new Error(`exchange by ${caller}: ${r.status} ${JSON.stringify(r.body)}`);
  return remember(r.body.access_token as string);
};

/**
 * Whether an issuer replica holds the token active, asked as the token's own client (RFC 7662 §4 allows it to know),
 * or, for SIGNER's (it has no secret), as their audience svc-a.
 */
async function active(token: string, on: TokenServiceClient = grpc.token): Promise<boolean> {
  const owner = token.startsWith("str_") ? MANAGED : (claimsOf(token).client_id as string);
  const clientId = owner === SIGNER ? "svc-a" : owner;
  const r = await call<IntrospectResponse__Output>(on, "Introspect", { client: { authorization: basicAuth(clientId, SECRET) }, token });
  if (!r.ok) throw new Error(`introspection failed: ${r.failure.description}`);
  return r.value.active;
}

const operatorToken = (client = "ops-revoker", scope = "subjects:revoke"): Promise<string> =>
  clientCredentialsToken(stack, client, SECRET, { audience: "sts-issuer-admin", scope }).then(remember);

const revokeSubject = async (request: { iss: string; sub: string; reason?: string }, credential?: string, on: TokenServiceClient = grpc.token) =>
  call<RevokeSubjectResponse__Output>(on, "RevokeSubject", request, bearer(credential));

/** `stsctl` with the operator's token in its environment, as an operator would run it. */
const stsctl = (args: string[], env: Record<string, string>) =>
  run(process.execPath, [join(ROOT, "services/audit/dist/stsctl.js"), ...args], { env: { ...process.env, ...env } });

/** Waits until the next second has begun after `revokedAt`: a token issued in the same second is covered by it. */
const afterRevocation = (revokedAt: number): Promise<boolean> =>
  waitFor(() => now() > revokedAt, { timeoutMs: 5_000, intervalMs: 50, message: "the clock did not move on" });

const eventually = (check: () => Promise<boolean>, message: string): Promise<boolean> => waitFor(check, { timeoutMs: 10_000, intervalMs: 50, message });

describe("revoking a user of this stack", () => {
  it("ends every token of the user: the chain AT1 → AT2 → AT3, its refresh family; another user's untouched, new ones work", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const { access: at1, refresh: rt1 } = await dti(alice);
    const at2 = await exchanged("svc-a", at1, "svc-b", "b c");
    const at3 = await exchanged("svc-b", at2, "svc-c", "c");
    const bobs = await dti(bob);
    for (const t of [at1, at2, at3, rt1, bobs.access]) expect(await active(t)).toBe(true);
    const denials = async (): Promise<number> =>
      (await storedEvents(stack.nats.url)).filter((e) => e.type === EVENT_TYPES.EXCHANGE_DENIED && e.data.reason === "subject_token rejected: token revoked")
        .length;
    const deniedBefore = await denials();

    const op = await operatorToken();
    const cli = await stsctl(
      ["subject", "revoke", "--iss", stack.gatewayUrl, "--sub", alice, "--reason", "left the company", "--addr", stack.address.issuer, "--json"],
      {
        STS_ISSUER_ACCESS_TOKEN: op,
      },
    );
    const revokedAt = Number((JSON.parse(cli.stdout) as { revoked_at: string }).revoked_at);
    expect(Math.abs(revokedAt - now())).toBeLessThan(10);

    // Introspection says inactive for the whole chain and the refresh token; the exchanger refuses every link.
    await eventually(async () => !(await active(at3)), "the issuer still holds AT3 active");
    for (const t of [at1, at2, rt1]) expect(await active(t)).toBe(false);
    await eventually(async () => (await exchange("svc-a", at1, "svc-b", "b")).status === 400, "the exchanger still exchanges AT1");
    for (const [caller, token, audience, scope] of [
      ["svc-a", at1, "svc-b", "b"],
      ["svc-b", at2, "svc-c", "c"],
    ] as const) {
      const refused = await exchange(caller, token, audience, scope);
      expect([refused.status, refused.body.error]).toEqual([400, "invalid_request"]);
    }
    // Each refusal is recorded as a denied exchange, as for a revoked token.
    expect(await denials()).toBeGreaterThanOrEqual(deniedBefore + 3);

    // The workload cannot refresh its way past the sign-out.
    const refused = await refresh(rt1);
    expect([refused.status, refused.body.error]).toEqual([400, "invalid_grant"]);

    // Another user is untouched.
    expect(await active(bobs.access)).toBe(true);
    expect((await exchange("svc-a", bobs.access, "svc-b", "b")).status).toBe(200);
    expect((await refresh(bobs.refresh)).status).toBe(200);

    // The user may come back: tokens issued after the revocation work, refresh included.
    await afterRevocation(revokedAt);
    const again = await dti(alice);
    expect(await active(again.access)).toBe(true);
    expect((await exchange("svc-a", again.access, "svc-b", "b")).status).toBe(200);
    const refreshed = await refresh(again.refresh);
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    expect(await active(remember(refreshed.body.access_token as string))).toBe(true);
    // …and the old family stays refused.
    expect((await refresh(rt1)).status).toBe(400);

    // The audit trail names the operator, and `stsctl audit query --type subject.revoked` finds it.
    const record = await waitFor(
      async () => {
        const q = await stsctl(["audit", "query", "--type", "subject.revoked", "--sub", alice, "--addr", stack.address.audit, "--json"], {
          STS_AUDIT_ACCESS_TOKEN: await clientCredentialsToken(stack, "ops-revoker", SECRET, { audience: "sts-audit", scope: "audit:read" }).then(remember),
        });
        const line = q.stdout.trim().split("\n").find(Boolean);
        return line ? (JSON.parse(line) as { client_id: string; sub: string; data_json: string }) : undefined;
      },
      { timeoutMs: 10_000, message: "subject.revoked is not in the audit store" },
    );
    expect(record).toMatchObject({ client_id: "ops-revoker", sub: alice });
    expect(JSON.parse(record.data_json)).toMatchObject({
      iss: stack.gatewayUrl,
      sub: alice,
      revoked_at: revokedAt,
      by: "ops-revoker",
      reason: "left the company",
      operator_jti: claimsOf(op).jti,
    });
    // No event holds a token this test obtained, nor its signature.
    const raw = (await storedEvents(stack.nats.url)).map((e) => e.raw).join("\n");
    for (const token of obtained) expect(raw).not.toContain(token.startsWith("str_") ? token : (token.split(".")[2] ?? token));
  });

  it("reaches the other issuer replica, which refuses the user's tokens too", async () => {
    const carol = user("carol");
    const { access } = await dti(carol);
    expect(await active(access, replica)).toBe(true);
    const r = await revokeSubject({ iss: stack.gatewayUrl, sub: carol }, await operatorToken());
    expect(r.ok).toBe(true);
    await eventually(async () => !(await active(access, replica)), "the second issuer replica still holds the token active");
    expect(await active(access)).toBe(false);
  });

  it("makes sidecar A refuse the inbound token (401) and not reuse its cached exchange for the next hop", async () => {
    const dave = user("dave");
    const { access } = await dti(dave);
    const inbound = () => fetch(`http://127.0.0.1:${sidecarPorts.inbound}/work`, { headers: { authorization: `Bearer ${access}` } });
    const outbound = () => fetch(`http://127.0.0.1:${sidecarPorts.outbound}/svc-b/work`, { headers: { authorization: `Bearer ${access}` } });
    expect((await inbound()).status).toBe(200);
    expect((await outbound()).status).toBe(200);
    expect((await outbound()).status).toBe(200);
    const sent = nextHopSaw.slice(-2);
    // One exchange, cached: the same token for svc-b twice, of the same subject.
    expect(sent[0]).toBe(sent[1]);
    expect(claimsOf(sent[0] ?? "")).toMatchObject({ sub: dave, aud: "svc-b" });

    expect((await revokeSubject({ iss: stack.gatewayUrl, sub: dave }, await operatorToken())).ok).toBe(true);
    await eventually(async () => (await inbound()).status === 401, "sidecar A still accepts the token");
    const refused = await inbound();
    expect(refused.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token"/);
    const before = nextHopSaw.length;
    expect((await outbound()).status).toBe(401);
    expect(nextHopSaw.length).toBe(before);
  });
});

describe("revoking a federated subject", () => {
  it("ends the provider's subject's tokens, and not this stack's subject of the same sub (nor the other way round)", async () => {
    const shared = user("erin");
    const other = user("frank");
    // The provider's erin and this stack's erin; the provider's frank and this stack's frank.
    const providerToken = remember(await idp.token({ sub: shared }));
    const fat2 = await exchanged("edge", providerToken, "svc-a", "a b");
    const fat3 = await exchanged("svc-a", fat2, "svc-b", "b");
    expect(claimsOf(fat3).sub_id).toEqual({ format: "iss_sub", iss: IDP, sub: shared });
    const local = (await dti(shared)).access;
    const otherFederated = await exchanged("edge", remember(await idp.token({ sub: other })), "svc-a", "a b");
    const otherLocal = (await dti(other)).access;

    expect((await revokeSubject({ iss: IDP, sub: shared, reason: "provider account compromised" }, await operatorToken())).ok).toBe(true);
    await eventually(async () => !(await active(fat3)), "the federated chain is still active");
    expect(await active(fat2)).toBe(false);
    // The provider's own token, issued before the revocation, cannot be exchanged again either.
    await eventually(async () => (await exchange("edge", providerToken, "svc-a", "a")).status === 400, "the provider's token is still exchanged");
    expect((await exchange("svc-a", fat2, "svc-b", "b")).body.error).toBe("invalid_request");
    // This stack's erin is another subject.
    expect(await active(local)).toBe(true);
    expect((await exchange("svc-a", local, "svc-b", "b")).status).toBe(200);

    // And the other way round: revoking this stack's frank leaves the provider's frank alone.
    expect((await revokeSubject({ iss: stack.gatewayUrl, sub: other }, await operatorToken())).ok).toBe(true);
    await eventually(async () => !(await active(otherLocal)), "this stack's frank is still active");
    expect(await active(otherFederated)).toBe(true);
    expect((await exchange("svc-a", otherFederated, "svc-b", "b")).status).toBe(200);
  });
});

describe("revoking a user while an exchanger has not seen it yet", () => {
  it("covers the hops it exchanges after the revocation: they carry where their chain began (origin_iat)", async () => {
    const relay = await natsRelay(stack.nats.url);
    const isolated = await stack.startReplica("exchanger", { NATS_URL: relay.url });
    const behind = clients({ ...stack.address, exchanger: isolated.address });
    try {
      const ivan = user("ivan");
      const { access: at1 } = await dti(ivan);
      const at2 = await exchanged("svc-a", at1, "svc-b", "b c");
      const origin = claimsOf(at1).origin_iat as number;
      expect(origin).toBeLessThanOrEqual(claimsOf(at1).iat as number);
      expect(claimsOf(at2).origin_iat).toBe(origin);
      // Cut off from new revocations, it answers from its copy until revocation_max_staleness (30 s) has passed.
      relay.cut();
      const r = await revokeSubject({ iss: stack.gatewayUrl, sub: ivan }, await operatorToken());
      if (!r.ok) throw new Error(`RevokeSubject: ${r.failure.description}`);
      const revokedAt = Number(r.value.revoked_at);
      await afterRevocation(revokedAt);
      const late = await exchangeOver(behind.exchange, "svc-b", at2, { audience: ["svc-c"], scope: "c" });
      if (!late.ok) throw new Error(`the exchanger behind refused: ${late.failure.description}`);
      const at3 = remember(late.value.access_token);
      // Issued after the revocation, by a chain begun before it: revoked everywhere the revocation is known.
      expect(claimsOf(at3).iat).toBeGreaterThan(revokedAt);
      expect(claimsOf(at3).origin_iat).toBe(origin);
      expect(await active(at3)).toBe(false);
      expect(await active(at3, replica)).toBe(false);
      const onward = await exchange("svc-c", at3, "svc-c", "c");
      expect([onward.status, onward.body.error]).toEqual([400, "invalid_request"]);
    } finally {
      behind.close();
      relay.close();
      await isolated.handle.stop();
    }
  }, 60_000);
});

describe("revoking a workload (a client) of this stack", () => {
  it("ends what was issued to it and what was made through it, up to then; tokens it never held stand, and it may start again", async () => {
    const carol = user("carol");
    const { access: at1 } = await dti(carol);
    // AT1 (issued to the managed workload) → svc-a's token for svc-w → svc-w's for svc-c → svc-c's for svc-d.
    const toW = await exchanged("svc-a", at1, "svc-w", "b c");
    const byW = await exchanged("svc-w", toW, "svc-c", "c");
    const afterW = await exchanged("svc-c", byW, "svc-d", "c");
    const own = remember(await clientCredentialsToken(stack, "svc-w", SECRET, { audience: "svc-c" }));
    expect(claimsOf(afterW).act).toEqual({ sub: "svc-c", act: { sub: "svc-w", act: { sub: "svc-a" } } });
    for (const t of [at1, toW, byW, afterW, own]) expect(await active(t)).toBe(true);

    const r = await revokeSubject({ iss: stack.gatewayUrl, sub: "svc-w", reason: "workload compromised" }, await operatorToken());
    if (!r.ok) throw new Error(`RevokeSubject: ${r.failure.description}`);
    // Its own token, the one issued to it, and the one made through it as an actor.
    await eventually(async () => !(await active(own)), "the issuer still holds svc-w's own token active");
    expect([await active(byW), await active(afterW)]).toEqual([false, false]);
    // The exchanger watches the revocations on its own: it refuses once it has seen this one.
    await eventually(async () => (await exchange("svc-c", byW, "svc-d", "c")).status === 400, "the exchanger still exchanges svc-w's token");
    // Not issued to it nor made through it: the user's token, and svc-a's token addressed to it.
    expect([await active(at1), await active(toW)]).toEqual([true, true]);
    // After its revocation (its credentials rotated, say) it gets tokens again.
    await afterRevocation(Number(r.value.revoked_at));
    expect(await active(remember(await clientCredentialsToken(stack, "svc-w", SECRET, { audience: "svc-c" })))).toBe(true);
    // But it cannot carry on a chain begun before it: the token would be revoked at birth, so none is made.
    const carryOn = await exchange("svc-w", toW, "svc-c", "c");
    expect([carryOn.status, carryOn.body.error]).toEqual([400, "invalid_request"]);
    expect(carryOn.body.error_description).toMatch(/chain began before the calling client was revoked/);
    // A chain begun after it is its own again.
    const { access: fresh } = await dti(carol);
    expect(await exchanged("svc-w", await exchanged("svc-a", fresh, "svc-w", "b c"), "svc-c", "c")).toBeTruthy();
  });
});

describe("revoking the client a chain began with", () => {
  it("ends every hop exchanged from the token issued to it: each names it as origin_client_id; another client's chain stands", async () => {
    const dave = user("dave");
    const { access: at1 } = await dti(dave, MANAGED_REVOKED);
    const toW = await exchanged("svc-a", at1, "svc-w", "b c");
    const byW = await exchanged("svc-w", toW, "svc-c", "c");
    expect([claimsOf(at1).origin_client_id, claimsOf(toW).client_id, claimsOf(toW).origin_client_id, claimsOf(byW).origin_client_id]).toEqual([
      undefined,
      "svc-a",
      MANAGED_REVOKED,
      MANAGED_REVOKED,
    ]);
    // The same user's chain through the other managed workload.
    const { access: other } = await dti(dave);
    const otherHop = await exchanged("svc-a", other, "svc-w", "b c");
    for (const t of [at1, toW, byW, otherHop]) expect(await active(t)).toBe(true);

    const r = await revokeSubject({ iss: stack.gatewayUrl, sub: MANAGED_REVOKED, reason: "workload compromised" }, await operatorToken());
    if (!r.ok) throw new Error(`RevokeSubject: ${r.failure.description}`);
    await eventually(async () => !(await active(at1)), "the issuer still holds the revoked client's token active");
    // Before, only at1 (issued to it) ended: the hops svc-a and svc-w made from it stood until they expired.
    expect([await active(toW), await active(byW)]).toEqual([false, false]);
    await eventually(async () => {
      const refused = await exchange("svc-w", toW, "svc-c", "c");
      return refused.status === 400 && refused.body.error_description === "subject_token rejected: token revoked";
    }, "the exchanger still exchanges a hop of the revoked client's chain");
    expect([await active(other), await active(otherHop)]).toEqual([true, true]);
  });
});

describe("an assertion signed before its user was revoked", () => {
  it("is refused (invalid_grant) when redeemed after it, client-signed or the dedicated issuer's; one made after it works", async () => {
    const judy = user("judy");
    const early = { dti: dtiAssertion(judy), signed: await signed({ iss: SIGNER, sub: judy, iat: now() }) };
    const r = await revokeSubject({ iss: stack.gatewayUrl, sub: judy }, await operatorToken());
    if (!r.ok) throw new Error(`RevokeSubject: ${r.failure.description}`);
    for (const late of [await jwtBearer(ADMIN, early.dti), await jwtBearer(SIGNER, early.signed)]) {
      expect([late.status, late.body.error]).toEqual([400, "invalid_grant"]);
    }
    // Without iat nothing shows it was made after the revocation: refused while the revocation is on record.
    await afterRevocation(Number(r.value.revoked_at));
    const undated = await jwtBearer(SIGNER, await signed({ iss: SIGNER, sub: judy }));
    expect([undated.status, undated.body.error]).toEqual([400, "invalid_grant"]);
    // Made after the revocation, it works.
    for (const fresh of [await jwtBearer(ADMIN, dtiAssertion(judy)), await jwtBearer(SIGNER, await signed({ iss: SIGNER, sub: judy, iat: now() }))]) {
      expect(fresh.status, JSON.stringify(fresh.body)).toBe(200);
      expect(await active(remember(fresh.body.access_token as string))).toBe(true);
    }
  });
});

describe("RevokeSubject refuses", () => {
  it("a caller without a token, with another scope or another audience, a delegated token, and bad input, changing nothing", async () => {
    const grace = user("grace");
    const { access } = await dti(grace);
    const request = { iss: stack.gatewayUrl, sub: grace };
    const code = (r: { ok: true } | { ok: false; failure: { grpcCode: number; error: string | undefined } }) =>
      r.ok ? "allowed" : [r.failure.grpcCode, r.failure.error];

    expect(code(await revokeSubject(request))).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
    expect(code(await revokeSubject(request, "not-a-token"))).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
    expect(code(await revokeSubject(request, await operatorToken("ops-other", "subjects:read")))).toEqual([status.PERMISSION_DENIED, "insufficient_scope"]);
    const auditToken = remember(await clientCredentialsToken(stack, "ops-revoker", SECRET, { audience: "sts-audit", scope: "audit:read" }));
    expect(code(await revokeSubject(request, auditToken))).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
    // A token a workload holds for a user (for another audience) is not an operator's.
    expect(code(await revokeSubject(request, access))).toEqual([status.UNAUTHENTICATED, "invalid_token"]);

    const op = await operatorToken();
    for (const bad of [
      { iss: stack.gatewayUrl, sub: "" },
      { iss: "", sub: grace },
      { iss: "https://unknown.example", sub: grace },
      { iss: stack.gatewayUrl, sub: "x".repeat(1025) },
      { iss: stack.gatewayUrl, sub: grace, reason: "r".repeat(513) },
    ]) {
      const r = await revokeSubject(bad, op);
      expect(code(r)).toEqual([status.INVALID_ARGUMENT, "invalid_request"]);
      expect(!r.ok && r.failure.description).not.toContain(grace);
    }
    // Nothing was written: the user's token works, and no subject.revoked names the user.
    expect(await active(access)).toBe(true);
    expect(await active(access, replica)).toBe(true);
    expect((await storedEvents(stack.nats.url)).some((e) => e.type === EVENT_TYPES.SUBJECT_REVOKED && e.data.sub === grace)).toBe(false);
  });

  it("with temporarily_unavailable when its issuer replica cannot reach NATS", async () => {
    const relay = await natsRelay(stack.nats.url);
    const isolated = await stack.startReplica("issuer", { NATS_URL: relay.url });
    const client = tokenClient(isolated.address);
    try {
      const heidi = user("heidi");
      const op = await operatorToken();
      relay.cut();
      const r = await revokeSubject({ iss: stack.gatewayUrl, sub: heidi }, op, client);
      expect(r.ok ? "allowed" : [r.failure.grpcCode, r.failure.error]).toEqual([status.UNAVAILABLE, "temporarily_unavailable"]);
      expect((await storedEvents(stack.nats.url)).some((e) => e.type === EVENT_TYPES.SUBJECT_REVOKED && e.data.sub === heidi)).toBe(false);
    } finally {
      client.close();
      relay.close();
      await isolated.handle.stop();
    }
  }, 60_000);
});
