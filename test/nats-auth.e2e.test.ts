/**
 * The stack against a nats-server that requires credentials: every service
 * logs in as its own user with the least-privilege permissions documented in
 * deploy/k8s/nats/permissions.conf (through deploy/local/nats-server.conf),
 * and the server logs no permission violation while tokens are issued,
 * exchanged, revoked and audited; a sidecar's user cannot forge events or
 * touch revocations; the audit service's user reads the revocations and
 * records reads of the trail (audit.accessed), and can do neither more nor
 * less; the policy service's user reads the revocations to check operators'
 * tokens, and cannot write them, and a policy replica that starts reads the
 * bucket's history, never a stored event; the issuer's user records an operator's signing-key
 * rotation and withdrawal (events, the kid's revocation); wrong credentials stop a service at start with a clear
 * message that holds no secret. Then the same over TLS, mutual and not.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join } from "node:path";
import { Metadata, credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadKeysProto } from "@sts/proto";
import type { QueryResponse__Output, RotateKeyResponse__Output } from "@sts/proto";
import { BUCKETS, EVENTS_STREAM, EVENT_TYPES, connectNats, eventSubject, isPermissionViolation } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { httpReady, freePort, makeTestCa, startProcess, waitFor } from "@sts/testkit";
import type { ProcessHandle, TestCa } from "@sts/testkit";
import { ROOT, SERVICES, basicAuth, claimsOf, clientCredentialsToken, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT, bearer, call, chainConfig, clients } from "./chain.js";

/** The NATS users of deploy/local/nats-server.conf; the gateway has none (it does not use NATS). */
const NATS_USERS = ["issuer", "exchanger", "policy", "audit", "sidecar"] as const;
// nats-server parses an environment variable's value as config text: a letter, then hex, stays a string.
const password = (): string => `p${randomBytes(24).toString("hex")}`;
const passwords = Object.fromEntries(NATS_USERS.map((name) => [name, password()])) as Record<(typeof NATS_USERS)[number], string>;
const serverEnv = Object.fromEntries(NATS_USERS.map((name) => [`STS_NATS_${name.toUpperCase()}_PASSWORD`, passwords[name]]));
/** The environment that logs service `name` in as its own user. */
const login = (name: string): Record<string, string> =>
  name in passwords ? { STS_NATS_USER: `sts-${name}`, STS_NATS_PASSWORD: passwords[name as keyof typeof passwords] } : {};

async function clientCredentials(stack: Stack, scope = "a b c"): Promise<string> {
  const r = await postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    { grant_type: "client_credentials", scope },
    { authorization: basicAuth("end-user-app", SECRET) },
  );
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.access_token as string;
}

/** What a service printed when it failed to start (startProcess puts its output in the error). */
async function startFailure(start: Promise<unknown>): Promise<string> {
  const outcome = await start.then(
    () => "started",
    (err: unknown) => (err instanceof Error ? err.message : String(err)),
  );
  expect(outcome).not.toBe("started");
  return outcome;
}

describe("NATS with a least-privilege user per service (deploy/local/nats-server.conf)", () => {
  let stack: Stack;
  let grpc: ReturnType<typeof clients>;
  let sidecar: ProcessHandle | undefined;
  const port = { inbound: 0, outbound: 0, health: 0 };

  beforeAll(async () => {
    for (const k of ["inbound", "outbound", "health"] as const) port[k] = await freePort();
    const sidecars = {
      "svc-b": { inbound: { port: port.inbound }, outbound: { port: port.outbound }, health: { port: port.health }, upstream: "http://127.0.0.1:9" },
    };
    // An auditor, whose access tokens the audit service checks against the revocations it may only read.
    const auditor = { client_id: "auditor", client_secret: SECRET, scope: ["audit:read"], audience: ["sts-audit"] };
    // A policy operator, whose access tokens the policy service checks against the same revocations.
    const operator = { client_id: "policy-operator", client_secret: SECRET, scope: ["policy:write"], audience: ["sts-policy"] };
    // An operator of the issuer's signing keys, whose changes the issuer records as events and revocations.
    const keysOperator = { client_id: "keys-operator", client_secret: SECRET, scope: ["keys:manage"], audience: ["sts-issuer-admin"] };
    stack = await startStack(
      { ...chainConfig, clients: [...chainConfig.clients, auditor, operator, keysOperator], sidecars },
      { services: [], nats: { include: [join(ROOT, "deploy/local/nats-server.conf")], env: serverEnv } },
    );
    // One by one, as the harness does, each with its own user: the issuer first, as it owns what the others open.
    for (const name of SERVICES) await stack.start(name, login(name));
    grpc = clients(stack.address);
  }, 120_000);

  afterAll(async () => {
    grpc?.close();
    await sidecar?.stop();
    await stack?.stop();
  });

  it("issues, exchanges, revokes and audits with only the documented permissions", async () => {
    const mark = stack.nats.mark();
    const t1 = await clientCredentials(stack);
    const t2 = await postForm(
      `${stack.gatewayUrl}/oauth2/token`,
      { grant_type: EXCHANGE_GRANT, subject_token: t1, subject_token_type: TOKEN_TYPE_AT, audience: "svc-b", scope: "b" },
      { authorization: basicAuth("svc-a", SECRET) },
    );
    expect(t2.status, JSON.stringify(t2.body)).toBe(200);
    const revoked = await postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token: t1 }, { authorization: basicAuth("end-user-app", SECRET) });
    expect(revoked.status).toBe(200);
    const intro = await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token: t1 }, { authorization: basicAuth("end-user-app", SECRET) });
    expect(intro.body).toEqual({ active: false });
    // The exchanger sees the revocation through its watch, and refuses to exchange the revoked token.
    await waitFor(
      async () => {
        const r = await postForm(
          `${stack.gatewayUrl}/oauth2/token`,
          { grant_type: EXCHANGE_GRANT, subject_token: t1, subject_token_type: TOKEN_TYPE_AT, audience: "svc-b", scope: "b" },
          { authorization: basicAuth("svc-a", SECRET) },
        );
        return r.status === 400;
      },
      { timeoutMs: 10_000, message: "the exchanger still exchanges a revoked token" },
    );
    // A policy change is written, announced (policy.updated) and heard by the exchanger.
    const admin = new Metadata();
    admin.set("authorization", `Bearer ${stack.secrets.policyAdmin}`);
    const put = await call(grpc.policy, "Put", { policy: { id: "nats-auth-probe", text: 'forbid (principal == Client::"svc-d", action, resource);' } }, admin);
    expect(put.ok).toBe(true);
    // The audit projection, fed by its durable consumer, holds the tokens.
    const jti = claimsOf(t1).jti as string;
    await waitFor(
      async () => {
        const r = await call<QueryResponse__Output>(grpc.audit, "Query", { filter: {}, page_size: 1000, page_token: "" });
        return r.ok && r.value.records.some((x) => x.type === EVENT_TYPES.TOKEN_REVOKED) && r.value.records.some((x) => JSON.stringify(x).includes(jti));
      },
      { timeoutMs: 10_000, message: "the audit projection did not record the tokens" },
    );
    expect(await natsLogSince(stack, mark)).not.toMatch(/Violation/i);
  });

  it("runs a sidecar as sts-sidecar, which reads the revocations and nothing else", async () => {
    const mark = stack.nats.mark();
    // As startSidecar does, plus the sidecar's NATS user (ready: it watches the revocations).
    sidecar = await startProcess({
      name: "sidecar svc-b",
      command: process.execPath,
      args: [join(ROOT, "services/sidecar/dist/main.js")],
      cwd: ROOT,
      env: { ...stack.env, ...login("sidecar"), STS_SIDECAR: "svc-b", STS_SIDECAR_CLIENT_SECRET: SECRET },
      ready: () => httpReady(`http://127.0.0.1:${port.health}/readyz`),
    });
    expect(await natsLogSince(stack, mark)).not.toMatch(/Violation/i);

    await asRevocationReader(stack.nats.url, "sidecar", async (nats) => {
      // Nor may it shorten the audit trail's retention, or touch the clients and keys buckets.
      await expectRefused(nats.jsm.streams.update(EVENTS_STREAM.name, { max_age: 1_000_000_000 }));
      await expectRefused(nats.jsm.streams.info(`KV_${BUCKETS.keys}`));
    });
    expect(stack.nats.outputSince(mark)).toMatch(/Publish Violation.*"sts-sidecar".*sts\.events\.token\.issued/);
  });

  it("runs the audit service as sts-audit: it checks an auditor's token, records the read, and may write nothing else", async () => {
    const mark = stack.nats.mark();
    const token = await clientCredentialsToken(stack, "auditor", SECRET, { audience: "sts-audit", scope: "audit:read" });
    const auditor = bearer(token);
    const jti = claimsOf(token).jti as string;
    // Each of these reads is recorded before it is answered: one of them finds the record of an earlier one.
    await waitFor(
      async () => {
        const r = await call<QueryResponse__Output>(grpc.audit, "Query", { filter: { type: EVENT_TYPES.AUDIT_ACCESSED, client_id: "auditor" } }, auditor);
        return r.ok && r.value.records.some((x) => x.jti === jti);
      },
      { timeoutMs: 10_000, message: "the auditor's read was not recorded" },
    );
    expect(await natsLogSince(stack, mark)).not.toMatch(/Violation.*"sts-audit"/i);
    await asRevocationReader(stack.nats.url, "audit");
    expect(stack.nats.outputSince(mark)).toMatch(/Publish Violation.*"sts-audit".*sts\.events\.token\.issued/);
  });

  it("runs the policy service as sts-policy: it checks an operator's token against the revocations, which it may read and not write", async () => {
    const mark = stack.nats.mark();
    const operator = bearer(await clientCredentialsToken(stack, "policy-operator", SECRET, { audience: "sts-policy", scope: "policy:write" }));
    const put = await call(
      grpc.policy,
      "Put",
      { policy: { id: "nats-auth-operator", text: 'forbid (principal == Client::"svc-e", action, resource);' } },
      operator,
    );
    expect(put.ok).toBe(true);
    // A replica that starts after an operator's change announces it again from the bucket's history.
    const replica = await stack.startReplica("policy", login("policy"));
    await replica.handle.stop();
    expect(await natsLogSince(stack, mark)).not.toMatch(/Violation.*"sts-policy"/i);
    // Nor may it read any stored event: the stream holds tokens issued and reads of the trail.
    await asRevocationReader(stack.nats.url, "policy", async (nats) => {
      const { state } = await nats.jsm.streams.info(EVENTS_STREAM.name);
      await expectRefused(nats.jsm.streams.getMessage(EVENTS_STREAM.name, { seq: state.last_seq }));
      await expectRefused(nats.jsm.streams.getMessage(EVENTS_STREAM.name, { last_by_subj: eventSubject(EVENT_TYPES.POLICY_UPDATED) }));
    });
    expect(stack.nats.outputSince(mark)).toMatch(/Publish Violation.*"sts-policy".*sts\.events\.token\.issued/);
    expect(stack.nats.outputSince(mark)).toMatch(/Publish Violation.*"sts-policy".*\$JS\.API\.STREAM\.MSG\.GET\.STS_EVENTS/);
  });

  it("runs the issuer as sts-issuer: an operator's key rotation and withdrawal record their events and the kid's revocation", async () => {
    const mark = stack.nats.mark();
    const keys = new (loadKeysProto().sts.token.v1.KeyService)(stack.address.issuer, credentials.createInsecure());
    try {
      const operator = bearer(await clientCredentialsToken(stack, "keys-operator", SECRET, { audience: "sts-issuer-admin", scope: "keys:manage" }));
      // The waiting successor, withdrawn: the signing key, and every token the other tests hold, stand.
      const rotated = await call<RotateKeyResponse__Output>(keys, "Rotate", {}, operator);
      if (!rotated.ok) throw new Error(`Rotate: ${rotated.failure.description}`);
      const withdrawn = await call(keys, "Withdraw", { kid: rotated.value.kid, reason: "permissions probe" }, operator);
      expect(withdrawn.ok).toBe(true);
    } finally {
      keys.close();
    }
    expect(await natsLogSince(stack, mark)).not.toMatch(/Violation.*"sts-issuer"/i);
  });

  it("stops a service whose password is wrong, naming the user, never the password", async () => {
    const wrong = password();
    const output = await startFailure(stack.startReplica("exchanger", { ...login("exchanger"), STS_NATS_PASSWORD: wrong }));
    expect(output).toMatch(
      /cannot connect to NATS as sts-exchanger with user "sts-exchanger" \(password from the environment\): the server refused the credentials \(Authorization Violation\)/,
    );
    expect(output).not.toContain(wrong);
    expect(output).not.toContain(passwords.exchanger);
  });

  it("stops a service given two ways of authenticating, naming the field", async () => {
    const token = password();
    const output = await startFailure(stack.startReplica("policy", { ...login("policy"), STS_NATS_TOKEN: token }));
    expect(output).toMatch(/nats\.token: one way of authenticating to NATS at most: user \+ password and token were given/);
    expect(output).not.toContain(token);
  });
});

/**
 * What nats-server logged since `mark` about everything done before this call: it makes the server log a line of
 * its own now (a refused login, as a user no service is) and returns what came before that line. A check for the
 * absence of a violation then cannot pass because the server had not yet written it; and outputSince throws rather
 * than look at a log cut short.
 */
async function natsLogSince(stack: Stack, mark: number): Promise<string> {
  const probe = `log-probe-${randomUUID()}`;
  await new Promise<void>((resolve, reject) => {
    const socket = connect(stack.nats.port, "127.0.0.1", () =>
      socket.write(`CONNECT ${JSON.stringify({ user: probe, pass: "-", verbose: false })}\r\nPING\r\n`),
    );
    socket.on("data", (data: Buffer) => {
      if (data.toString().includes("-ERR")) {
        socket.destroy();
        resolve();
      }
    });
    socket.on("close", () => resolve());
    socket.on("error", reject);
  });
  const log = await waitFor(
    () => {
      const text = stack.nats.outputSince(mark);
      return text.includes(`"${probe}"`) && text;
    },
    { timeoutMs: 10_000, message: "nats-server never logged the probe's refused login" },
  );
  return log.slice(0, log.lastIndexOf("\n", log.indexOf(`"${probe}"`)) + 1);
}

/**
 * Logs in to `url` as a service that only reads the revocations (`sts-<name>`): it may
 * read the bucket, and neither write nor delete in it nor forge a token event;
 * `more` checks what else this user may not do.
 */
async function asRevocationReader(url: string, name: "sidecar" | "audit" | "policy", more?: (nats: NatsHandle) => Promise<void>): Promise<void> {
  const nats = await connectNats({
    servers: url,
    name: `sts-${name}-probe`,
    auth: { kind: "user", user: `sts-${name}`, password: { value: passwords[name] } },
    inboxPrefix: `_INBOX.${name}`,
  });
  try {
    await expectRefused(nats.js.publish(eventSubject(EVENT_TYPES.TOKEN_ISSUED), "{}", { timeout: 2_000 }));
    const revocations = await nats.kvm.open(BUCKETS.revocations);
    await expectRefused(revocations.put("forged", "{}"));
    await expectRefused(revocations.delete("any"));
    // Reading stays allowed: the status of the bucket it watches.
    expect((await revocations.status()).bucket).toBe(BUCKETS.revocations);
    await more?.(nats);
  } finally {
    await nats.close();
  }
}

/** Expects the server to refuse the operation to this user (a permission violation, not a timeout). */
async function expectRefused(operation: Promise<unknown>): Promise<void> {
  const outcome = await operation.then(
    () => "allowed",
    (err: unknown) => err,
  );
  expect(outcome).not.toBe("allowed");
  expect(isPermissionViolation(outcome), String(outcome)).toBe(true);
}

describe("NATS over TLS", () => {
  let dir: string;
  let ca: TestCa;
  let stack: Stack;
  const natsPassword = password();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sts-nats-tls-"));
    ca = makeTestCa(dir, "nats-ca");
    const server = ca.issue("nats-server");
    const client = ca.issue("sts-client");
    stack = await startStack(chainConfig, {
      services: ["issuer", "gateway"],
      // verify: the server asks every client for a certificate from the CA (mutual TLS).
      nats: { tls: { ...server, ca_file: ca.ca_file, verify: true }, users: [{ user: "sts", password: natsPassword }] },
      env: {
        STS_NATS_USER: "sts",
        STS_NATS_PASSWORD: natsPassword,
        STS_NATS_TLS_CA_FILE: ca.ca_file,
        STS_NATS_TLS_CERT_FILE: client.cert_file,
        STS_NATS_TLS_KEY_FILE: client.key_file,
      },
    });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("comes up on a tls:// URL with a client certificate and issues a token", async () => {
    expect(stack.env.NATS_URL).toMatch(/^tls:\/\//);
    expect(claimsOf(await clientCredentials(stack)).client_id).toBe("end-user-app");
  });

  it("stops a service that does not trust the server's CA, saying TLS failed", async () => {
    const other = makeTestCa(dir, "other-ca");
    const output = await startFailure(stack.startReplica("issuer", { STS_NATS_TLS_CA_FILE: other.ca_file }));
    expect(output).toMatch(/cannot connect to NATS as sts-issuer .*: TLS failed/);
    expect(output).not.toContain(natsPassword);
  });
});
