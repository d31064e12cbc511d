/**
 * Signing-key management for operators (the issuer's KeyService, `stsctl
 * keys`): listing the keys, a planned rotation, and the compromise response.
 * A withdrawn key's tokens stop working everywhere at once, whenever they
 * were signed: introspection, exchange, the audit API (which verifies against
 * a cached JWKS); the JWKS stops listing it, and new tokens are signed by its
 * successor. So do the tokens exchanged from its tokens after a rotation,
 * though another key signed them (`lineage_kids`). Operators call with their
 * own access token; one without the scope changes nothing. Real nats-server,
 * issuer, policy, exchanger, gateway and audit processes.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata, credentials, status } from "@grpc/grpc-js";
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { BUCKETS, EVENT_TYPES, connectNats, openBucket } from "@sts/nats";
import { keyWithdrawalKey } from "@sts/revocation";
import type { KeyWithdrawalRecord } from "@sts/revocation";
import { loadKeysProto } from "@sts/proto";
import type {
  KeyServiceClient,
  ListKeysResponse__Output,
  MintResponse__Output,
  QueryResponse__Output,
  RotateKeyResponse__Output,
  SigningKeyInfo__Output,
  WithdrawKeyResponse__Output,
} from "@sts/proto";
import { waitFor } from "@sts/testkit";
import { ROOT, basicAuth, clientCredentialsToken, postForm, startStack, storedEvents } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT, bearer, call, clients } from "./chain.js";

const run = promisify(execFile);
const ADMIN_AUDIENCE = "sts-issuer-admin";

let stack: Stack;
let keys: KeyServiceClient;
let grpc: ReturnType<typeof clients>;
let jwksUri: string;

beforeAll(async () => {
  stack = await startStack({
    tokens: { clock_tolerance: 0 },
    policy: {
      hops: [
        { from: "svc-a", to: "svc-b", scopes: ["b"] },
        { from: "svc-b", to: "svc-c", scopes: ["b"] },
      ],
    },
    clients: [
      { client_id: "app", client_secret: SECRET, scope: ["a", "b"], audience: ["svc-a"] },
      ...["svc-a", "svc-b", "svc-c"].map((client_id) => ({
        client_id,
        client_secret: SECRET,
        grant_types: ["client_credentials", EXCHANGE_GRANT],
        // svc-a's own token is the actor_token it presents (a client_credentials token needs an audience).
        audience: client_id === "svc-a" ? ["svc-b"] : [],
      })),
      // Operators: one who manages the keys (and reads the audit trail), one who may only list them, one who revokes subjects.
      { client_id: "ops-keys", client_secret: SECRET, scope: ["keys:manage", "audit:read"], audience: [ADMIN_AUDIENCE, "sts-audit"] },
      { client_id: "ops-reader", client_secret: SECRET, scope: ["keys:read"], audience: [ADMIN_AUDIENCE] },
      { client_id: "ops-revoker", client_secret: SECRET, scope: ["subjects:revoke"], audience: [ADMIN_AUDIENCE] },
    ],
  });
  keys = new (loadKeysProto().sts.token.v1.KeyService)(stack.address.issuer, credentials.createInsecure());
  grpc = clients(stack.address);
  const metadata = await (await fetch(`${stack.gatewayUrl}/.well-known/oauth-authorization-server`)).json();
  jwksUri = (metadata as { jwks_uri: string }).jwks_uri;
}, 120_000);

afterAll(async () => {
  keys?.close();
  grpc?.close();
  await stack?.stop();
});

/** An operator's own access token for the issuer's operator APIs. */
const operator = (client: string, scope: string): Promise<string> => clientCredentialsToken(stack, client, SECRET, { audience: ADMIN_AUDIENCE, scope });
const manager = (): Promise<string> => operator("ops-keys", "keys:manage");

/** The app's access token for svc-a: the token a compromised key would have signed. */
const appToken = (): Promise<string> => clientCredentialsToken(stack, "app", SECRET, { scope: "a b" });
const kidOf = (token: string): string => decodeProtectedHeader(token).kid ?? "";

/** RFC 7662 at the gateway, asked by the token's own client (the app's, unless another is named). */
async function active(token: string, client = "app"): Promise<boolean> {
  const r = await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token }, { authorization: basicAuth(client, SECRET) });
  if (r.status !== 200) throw new Error(`introspection failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.active === true;
}

/**
 * RFC 8693 at the gateway: svc-a exchanges the app's token for svc-b (or `caller` a token it holds, for `audience`),
 * presenting `actor` as its actor_token when given.
 */
const exchange = (token: string, caller = "svc-a", audience = "svc-b", actor?: string) =>
  postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    {
      grant_type: EXCHANGE_GRANT,
      subject_token: token,
      subject_token_type: TOKEN_TYPE_AT,
      audience,
      scope: "b",
      ...(actor && { actor_token: actor, actor_token_type: TOKEN_TYPE_AT }),
    },
    { authorization: basicAuth(caller, SECRET) },
  );

/** The kids the gateway's jwks_uri lists now. */
const published = async (): Promise<string[]> => ((await (await fetch(jwksUri)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);

const list = async (credential: string): Promise<SigningKeyInfo__Output[]> => {
  const r = await call<ListKeysResponse__Output>(keys, "List", {}, bearer(credential));
  if (!r.ok) throw new Error(`List: ${r.failure.description}`);
  return r.value.keys;
};
const stateOf = async (kid: string, credential: string): Promise<string | undefined> => (await list(credential)).find((k) => k.kid === kid)?.state;
const withdraw = (kid: string, reason: string, credential?: string) => call<WithdrawKeyResponse__Output>(keys, "Withdraw", { kid, reason }, bearer(credential));
const failure = (r: { ok: true } | { ok: false; failure: { grpcCode: number; error: string | undefined } }) =>
  r.ok ? "allowed" : [r.failure.grpcCode, r.failure.error];

/** `stsctl` with the operator's token in its environment, as an operator would run it. */
const stsctl = (args: string[], token: string) =>
  run(process.execPath, [join(ROOT, "services/audit/dist/stsctl.js"), ...args, "--addr", stack.address.issuer], {
    env: { ...process.env, STS_ISSUER_ACCESS_TOKEN: token },
  });

/** One page of the audit trail, read with `credential`. */
const auditQuery = (credential: string) => call<QueryResponse__Output>(grpc.audit, "Query", { filter: {}, page_size: 1 }, bearer(credential));

const eventually = (check: () => Promise<boolean>, message: string, timeoutMs = 10_000): Promise<boolean> =>
  waitFor(check, { timeoutMs, intervalMs: 50, message });

describe("withdrawing a compromised signing key", () => {
  it("ends every token it signed at once (introspection, exchange, the audit API), drops it from the JWKS, and signs on with a successor", async () => {
    const t1 = await appToken();
    const kid = kidOf(t1);
    expect(await active(t1)).toBe(true);
    expect((await exchange(t1)).status).toBe(200);
    // The audit API verifies against the JWKS it fetched and keeps. The key may have begun signing a moment ago (the
    // successor of a key withdrawn or brought forward just before): the audit API takes its tokens once it has
    // fetched the JWKS again (its 5 s refetch pause and the gateway's 5 s). From then it has this key.
    const auditor = await clientCredentialsToken(stack, "ops-keys", SECRET, { audience: "sts-audit", scope: "audit:read" });
    expect(kidOf(auditor)).toBe(kid);
    await eventually(async () => (await auditQuery(auditor)).ok, "the audit API does not take a token of the signing key", 20_000);
    expect(await stateOf(kid, await operator("ops-reader", "keys:read"))).toBe("signing");

    const op = await manager();
    const reason = "private key found in a public repository";
    const r = await withdraw(kid, reason, op);
    if (!r.ok) throw new Error(`Withdraw: ${r.failure.description}`);
    expect(r.value.key).toMatchObject({ kid, state: "withdrawn", withdrawn_by: "ops-keys", reason });
    expect(r.value.successor).not.toBe(kid);
    // The operator's own token was signed with that key too: refused from now on, like every other.
    expect(failure(await withdraw(kid, "another reason", op))).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
    // The same withdrawal again with a new token (a retry): the earlier record, nothing new.
    const again = await withdraw(kid, "another reason", await manager());
    expect(again.ok && again.value).toEqual(r.value);

    // The issuer answers introspection from what it has seen: no wait.
    expect(await active(t1)).toBe(false);
    // The exchanger and the audit API watch the buckets: as soon as they have seen it (milliseconds).
    await eventually(async () => (await exchange(t1)).status !== 200, "the exchanger still exchanges the withdrawn key's token");
    const refused = await exchange(t1);
    expect([refused.status, refused.body.error]).toEqual([400, "invalid_request"]);
    const audited = async (): Promise<string> => JSON.stringify(failure(await auditQuery(auditor)));
    await eventually(async () => (await audited()) !== JSON.stringify("allowed"), "the audit API still takes a token of the withdrawn key");
    expect(await audited()).toBe(JSON.stringify([status.UNAUTHENTICATED, "invalid_token"]));
    // The gateway reuses a JWKS for 5 s.
    await eventually(async () => !(await published()).includes(kid), "the JWKS still lists the withdrawn key");
    expect(await published()).toContain(r.value.successor);

    // New tokens are signed by the successor, verify against jwks_uri, and work.
    const t2 = await appToken();
    expect(kidOf(t2)).toBe(r.value.successor);
    await expect(jwtVerify(t2, createRemoteJWKSet(new URL(jwksUri)), { issuer: stack.gatewayUrl, audience: "svc-a" })).resolves.toBeTruthy();
    expect(await active(t2)).toBe(true);
    expect((await exchange(t2)).status).toBe(200);

    // Recorded once, with who and why, and nothing of a private key.
    const recorded = (await storedEvents(stack.nats.url)).filter((e) => e.type === EVENT_TYPES.KEY_WITHDRAWN && e.data.kid === kid);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]?.data).toMatchObject({ kid, alg: "ES256", by: "ops-keys", reason, successor: r.value.successor });
    expect(recorded[0]?.raw).not.toMatch(/"d"\s*:|sealed/);
    for (const token of [t1, t2, op, auditor]) expect(recorded[0]?.raw).not.toContain(token.split(".")[2]);
    // The audit projection keeps it under the operator's client id (`stsctl audit query --type key.withdrawn --client ops-keys`).
    // The audit API learns the successor key when it fetches the JWKS again: within its 5 s refetch pause and the gateway's 5 s.
    const reader = bearer(await clientCredentialsToken(stack, "ops-keys", SECRET, { audience: "sts-audit", scope: "audit:read" }));
    const inAudit = await waitFor(
      async () => {
        const q = await call<QueryResponse__Output>(grpc.audit, "Query", { filter: { type: EVENT_TYPES.KEY_WITHDRAWN, client_id: "ops-keys" } }, reader);
        return q.ok ? q.value.records.find((x) => JSON.parse(x.data_json).kid === kid) : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 250, message: "key.withdrawn is not in the audit projection" },
    );
    expect(JSON.parse(inAudit.data_json)).toMatchObject({ kid, by: "ops-keys", reason });
  });

  it("refuses callers without a token (UNAUTHENTICATED) or without the scope (PERMISSION_DENIED), an unknown kid (NOT_FOUND) and no reason, changing nothing", async () => {
    const reader = await operator("ops-reader", "keys:read");
    const kid = (await list(reader)).find((k) => k.state === "signing")?.kid ?? "";
    expect(kid).not.toBe("");
    const revoker = await operator("ops-revoker", "subjects:revoke");

    expect(failure(await withdraw(kid, "no token"))).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
    expect(failure(await withdraw(kid, "reader", reader))).toEqual([status.PERMISSION_DENIED, "insufficient_scope"]);
    expect(failure(await withdraw(kid, "revoker", revoker))).toEqual([status.PERMISSION_DENIED, "insufficient_scope"]);
    expect(failure(await call(keys, "Rotate", {}, bearer(reader)))).toEqual([status.PERMISSION_DENIED, "insufficient_scope"]);
    expect(failure(await call(keys, "List", {}, bearer(revoker)))).toEqual([status.PERMISSION_DENIED, "insufficient_scope"]);
    expect(failure(await call(keys, "List", {}))).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
    // A token for another API is no operator's token here.
    const auditor = await clientCredentialsToken(stack, "ops-keys", SECRET, { audience: "sts-audit", scope: "audit:read" });
    expect(failure(await withdraw(kid, "auditor", auditor))).toEqual([status.UNAUTHENTICATED, "invalid_token"]);

    const op = await manager();
    expect(failure(await withdraw("no-such-kid", "typo", op))).toEqual([status.NOT_FOUND, "not_found"]);
    expect(failure(await withdraw(kid, "", op))).toEqual([status.INVALID_ARGUMENT, "invalid_request"]);
    expect(failure(await withdraw("", "no kid", op))).toEqual([status.INVALID_ARGUMENT, "invalid_request"]);

    expect(await stateOf(kid, reader)).toBe("signing");
    expect(kidOf(await appToken())).toBe(kid);
    expect((await storedEvents(stack.nats.url)).some((e) => e.type === EVENT_TYPES.KEY_WITHDRAWN && e.data.kid === kid)).toBe(false);
  });

  it("stays withdrawn across an issuer restart", async () => {
    const token = await appToken();
    const kid = kidOf(token);
    const r = await withdraw(kid, "rotated out after an incident", await manager());
    expect(r.ok).toBe(true);
    await stack.processes.issuer?.stop();
    await stack.start("issuer");
    await stack.ready();
    const listed = (await list(await operator("ops-reader", "keys:read"))).find((k) => k.kid === kid);
    expect(listed).toMatchObject({ state: "withdrawn", withdrawn_by: "ops-keys", reason: "rotated out after an incident" });
    expect(await active(token)).toBe(false);
    expect(kidOf(await appToken())).not.toBe(kid);
  }, 60_000);
});

/** The access token `caller` gets by exchanging `token` for `audience` (svc-a for svc-b by default), with `actor` if given. */
async function exchanged(token: string, caller = "svc-a", audience = "svc-b", actor?: string): Promise<string> {
  const r = await exchange(token, caller, audience, actor);
  if (r.status !== 200) throw new Error(`exchange by ${caller}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.access_token as string;
}

/**
 * Makes the issuer sign with a successor now: Rotate, then bring the successor's activation forward in the keys
 * bucket, as the ring itself does for the successor of a withdrawn signing key. The lead a planned rotation keeps is
 * for verifiers holding a cached JWKS; the issuer and the exchanger read the keys bucket and hold the successor already.
 * The most recently activated key signs: when the signing key itself began signing this very second (the successor of
 * a key withdrawn just before), the successor activates the next second, not in a tie with it.
 */
async function signWithSuccessor(): Promise<string> {
  const op = await manager();
  const rotated = await call<RotateKeyResponse__Output>(keys, "Rotate", {}, bearer(op));
  if (!rotated.ok) throw new Error(`Rotate: ${rotated.failure.description}`);
  const { kid } = rotated.value;
  const signing = (await list(op)).find((k) => k.state === "signing");
  if (!signing) throw new Error("no key is signing");
  const activateAt = Math.max(Math.floor(Date.now() / 1000), Number(signing.activate_at) + 1);
  const nats = await connectNats({ servers: stack.nats.url, name: "successor-brought-forward" });
  try {
    const bucket = await openBucket(nats, BUCKETS.keys);
    // The ring's name for a key's record.
    const entry = await bucket.get(`key.${kid}`);
    if (!entry) throw new Error(`no record of the successor ${kid}`);
    const record = { ...entry.json<Record<string, unknown>>(), activate_at: activateAt };
    await bucket.update(`key.${kid}`, JSON.stringify(record), entry.revision);
  } finally {
    await nats.close();
  }
  await eventually(async () => kidOf(await appToken()) === kid, "the issuer does not sign with the successor");
  return kid;
}

/** How many token.exchanged events are stored: what a refused Mint must leave alone. */
const exchangedEvents = async (): Promise<number> => (await storedEvents(stack.nats.url)).filter((e) => e.type === EVENT_TYPES.TOKEN_EXCHANGED).length;

describe("withdrawing a key that signed the start of a chain exchanged on after a rotation", () => {
  it("ends the hops its successor signed since (lineage_kids) at introspection and exchange, and mints no more; a chain begun under the successor stands", async () => {
    const t1 = await appToken();
    const k1 = kidOf(t1);
    const k2 = await signWithSuccessor();
    expect(k2).not.toBe(k1);
    // svc-a exchanges the app's token after the rotation: the successor signs the hop, which names the key of its subject.
    const hop = await exchanged(t1);
    expect([kidOf(hop), decodeJwt(hop).lineage_kids]).toEqual([k2, [k1]]);
    // A chain begun after the rotation, signed by the successor throughout, names no other key.
    const later = await appToken();
    const laterHop = await exchanged(later);
    expect([kidOf(later), kidOf(laterHop)]).toEqual([k2, k2]);
    expect(decodeJwt(laterHop)).not.toHaveProperty("lineage_kids");
    // token.exchanged tells an auditor which hops a withdrawal of k1 ends.
    const recorded = (await storedEvents(stack.nats.url)).find((e) => e.type === EVENT_TYPES.TOKEN_EXCHANGED && e.data.jti === decodeJwt(hop).jti);
    expect(recorded?.data).toMatchObject({ kid: k2, lineage_kids: [k1] });
    expect(await active(hop, "svc-a")).toBe(true);
    expect((await exchange(hop, "svc-b", "svc-c")).status).toBe(200);

    const r = await withdraw(k1, "found leaked after the rotation", await manager());
    if (!r.ok) throw new Error(`Withdraw: ${r.failure.description}`);
    expect(r.value.successor).toBe(k2);
    // The issuer answers introspection from what it has seen: no wait. Before, the hop stood until it expired.
    expect([await active(t1), await active(hop, "svc-a")]).toEqual([false, false]);
    await eventually(async () => {
      const refused = await exchange(hop, "svc-b", "svc-c");
      return refused.status === 400 && refused.body.error_description === "subject_token rejected: token revoked";
    }, "the exchanger still exchanges a hop made from a token of the withdrawn key");
    // An exchanger whose copy of the revocations was behind would still ask for a token made from the hop: none is minted.
    const before = await exchangedEvents();
    const internal = new Metadata();
    internal.set("authorization", basicAuth("sts-exchanger", stack.secrets.exchanger));
    const notAfter = String(Number(decodeJwt(hop).exp));
    const mint = { sub: "app", client_id: "svc-b", audience: ["svc-c"], scope: "b", not_after: notAfter, requested_token_type: TOKEN_TYPE_AT };
    const refused = await call<MintResponse__Output>(grpc.token, "Mint", { ...mint, lineage_kids: [k2, k1] }, internal);
    expect(refused.ok ? "minted" : [refused.failure.error, refused.failure.description]).toEqual([
      "invalid_request",
      "a token this exchange rests on (the subject or actor token, or one they were made from) was signed with a withdrawn key",
    ]);
    expect(await exchangedEvents()).toBe(before);
    // The chain begun under the successor stands, at introspection and exchange.
    expect([await active(later), await active(laterHop, "svc-a")]).toEqual([true, true]);
    expect((await exchange(laterHop, "svc-b", "svc-c")).status).toBe(200);
  });
});

describe("withdrawing a key that signed the actor token of an exchange made after a rotation", () => {
  it("ends the hop its successor signed (lineage_kids names the actor token's key) at introspection and exchange; the subject token stands", async () => {
    // svc-a's own token from before the rotation: the actor_token it presents (RFC 8693 §2.1), which must be the caller's.
    const actor = await clientCredentialsToken(stack, "svc-a", SECRET, { audience: "svc-b" });
    const k1 = kidOf(actor);
    const k2 = await signWithSuccessor();
    expect(k2).not.toBe(k1);
    const subject = await appToken();
    expect(kidOf(subject)).toBe(k2);
    // Both the subject and the hop are the successor's: only the actor token's key can put k1 in lineage_kids.
    const hop = await exchanged(subject, "svc-a", "svc-b", actor);
    const claims = decodeJwt(hop);
    expect([kidOf(hop), claims.lineage_kids, claims.sub, claims.act]).toEqual([k2, [k1], "app", { sub: "svc-a" }]);
    expect(await active(hop, "svc-a")).toBe(true);
    expect((await exchange(hop, "svc-b", "svc-c")).status).toBe(200);

    const r = await withdraw(k1, "found leaked after the rotation", await manager());
    if (!r.ok) throw new Error(`Withdraw: ${r.failure.description}`);
    expect(r.value.successor).toBe(k2);
    // The issuer answers introspection from what it has seen: no wait.
    expect([await active(actor, "svc-a"), await active(hop, "svc-a"), await active(subject)]).toEqual([false, false, true]);
    await eventually(async () => {
      const refused = await exchange(hop, "svc-b", "svc-c");
      return refused.status === 400 && refused.body.error_description === "subject_token rejected: token revoked";
    }, "the exchanger still exchanges a hop made with an actor token of the withdrawn key");
    // The subject token rests on k2 alone: it is still exchanged, without the withdrawn actor token.
    expect((await exchange(subject)).status).toBe(200);
  });
});

describe("a withdrawal cut off after its revocation", () => {
  it("is completed by the issuer: no token is signed by the revoked key, a successor signs, and key.withdrawn names the operator", async () => {
    const before = await appToken();
    const kid = kidOf(before);
    // What a Withdraw call left when it died, a minute ago, right after its first step: the kid revoked, the key still
    // in the ring. (Within its first 30 s a record is left to the call that wrote it.)
    const nats = await connectNats({ servers: stack.nats.url, name: "cut-off-withdrawal" });
    try {
      const revocations = await openBucket(nats, BUCKETS.revocations);
      const at = Math.floor(Date.now() / 1000) - 60;
      const record: KeyWithdrawalRecord = {
        iss: stack.gatewayUrl,
        kid,
        revoked_at: at,
        exp: at + 3600,
        by: "ops-keys",
        reason: "issuer died mid-withdrawal",
      };
      await revocations.put(keyWithdrawalKey(stack.gatewayUrl, kid), JSON.stringify(record));
    } finally {
      await nats.close();
    }
    // Once the issuer has seen the record (its tokens are refused), until a successor signs, a token request is refused
    // as retryable; never answered with a token of the revoked key.
    await eventually(async () => !(await active(before)), "the issuer has not seen the kid record");
    const answers: Array<number | string> = [];
    await eventually(async () => {
      const r = await postForm(
        `${stack.gatewayUrl}/oauth2/token`,
        { grant_type: "client_credentials", scope: "a b" },
        { authorization: basicAuth("app", SECRET) },
      );
      const token = r.body.access_token as string | undefined;
      answers.push(r.status === 200 && token ? kidOf(token) : `${r.status} ${String(r.body.error)}`);
      return r.status === 200;
    }, "no token from a successor key");
    expect(answers.filter((a) => a !== "503 temporarily_unavailable" && a !== answers.at(-1))).toEqual([]);
    expect(answers.at(-1)).not.toBe(kid);
    // The gateway reuses a JWKS for 5 s: one fetched just before the withdrawal (by a verifier, or by the test before
    // this one) still lists the key until then.
    await eventually(async () => !(await published()).includes(kid), "the JWKS still lists the revoked key");
    expect((await list(await operator("ops-reader", "keys:read"))).find((k) => k.kid === kid)).toMatchObject({
      state: "withdrawn",
      withdrawn_by: "ops-keys",
      reason: "issuer died mid-withdrawal",
    });
    await eventually(
      async () =>
        (await storedEvents(stack.nats.url)).some((e) => e.type === EVENT_TYPES.KEY_WITHDRAWN && e.data.kid === kid && e.data.client_id === "ops-keys"),
      "no key.withdrawn event",
    );
  });
});

describe("a planned rotation", () => {
  it("publishes an upcoming successor, answers a second Rotate with the same key, and records key.rotated by the operator", async () => {
    const op = await manager();
    const signing = (await list(op)).find((k) => k.state === "signing")?.kid;
    const first = await call<RotateKeyResponse__Output>(keys, "Rotate", {}, bearer(op));
    if (!first.ok) throw new Error(`Rotate: ${first.failure.description}`);
    // Published for the lead verifiers' JWKS caches need (gateway 5 s + max-age 60 s + the clock tolerance, 0 here).
    expect(Number(first.value.activate_at) - Math.floor(Date.now() / 1000)).toBeGreaterThan(55);
    const second = await call<RotateKeyResponse__Output>(keys, "Rotate", {}, bearer(op));
    expect(second.ok && second.value).toEqual({ ...first.value, created: false });
    expect(await stateOf(first.value.kid, op)).toBe("upcoming");
    expect((await list(op)).find((k) => k.state === "signing")?.kid).toBe(signing);
    await eventually(async () => (await published()).includes(first.value.kid), "the JWKS does not list the successor");
    const recorded = (await storedEvents(stack.nats.url)).filter((e) => e.type === EVENT_TYPES.KEY_ROTATED && e.data.kid === first.value.kid);
    expect(recorded.map((e) => e.data)).toEqual([
      expect.objectContaining({ kid: first.value.kid, predecessor: signing, activate_at: Number(first.value.activate_at), by: "ops-keys" }),
    ]);
  });
});

describe("stsctl keys", () => {
  it("lists the keys one per line, and withdraws one with a reason (refusing without one)", async () => {
    const op = await manager();
    const human = await stsctl(["keys", "list"], op);
    const signing = human.stdout.split("\n").find((line) => /\ssigning\s/.test(line));
    expect(signing).toMatch(/^\S+\s+signing\s+ES256\s+created \d{4}-\d\d-\d\dT[\d:.]+Z\s+signs from \d{4}-\d\d-\d\dT[\d:.]+Z$/);
    const kid = signing?.split(/\s+/)[0] ?? "";
    const json = (await stsctl(["keys", "list", "--json"], op)).stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as SigningKeyInfo__Output);
    expect(json.find((k) => k.kid === kid)?.state).toBe("signing");

    const refused = await stsctl(["keys", "withdraw", kid], op).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(refused?.code).toBe(2);
    expect(refused?.stderr).toMatch(/--reason/);
    expect(await stateOf(kid, op)).toBe("signing");

    const out = await stsctl(["keys", "withdraw", kid, "--reason", "laptop stolen"], op);
    expect(out.stdout.startsWith(`${kid} withdrawn `)).toBe(true);
    expect(out.stdout).toMatch(/ withdrawn \S+Z by ops-keys; \S+ signs now\n$/);
    // `op` was signed with the withdrawn key: a new token for the next call.
    const after = (await stsctl(["keys", "list"], await manager())).stdout.split("\n").find((line) => line.startsWith(`${kid} `));
    expect(after).toMatch(/\swithdrawn\s.*withdrawn \S+Z by ops-keys: "laptop stolen"$/);
  });
});
