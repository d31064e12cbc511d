/**
 * The stack under NATS decentralized JWT authentication (operator mode), as a
 * NATS cluster run with nsc is set up: an operator, one account with
 * JetStream, and one user per service whose JWT carries that service's
 * permissions from deploy/k8s/nats/permissions.conf. Each service logs in
 * with its own `.creds` file (`nats.creds_file`), and tokens are issued,
 * exchanged, revoked and audited without a permission violation; a user
 * signed by an account the server does not know is refused at start with a
 * message naming the file, never the seed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from "@nats-io/jwt";
import { nkeys } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { QueryResponse__Output } from "@sts/proto";
import { EVENT_TYPES } from "@sts/nats";
import { waitFor } from "@sts/testkit";
import { ROOT, basicAuth, claimsOf, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT, bearer, call, chainConfig, clients } from "./chain.js";

const PERMISSIONS_FILE = join(ROOT, "deploy/k8s/nats/permissions.conf");
/** An nkey pair (an account's, here). */
type KeyPair = ReturnType<typeof nkeys.createAccount>;

const SERVICES_WITH_NATS = ["issuer", "exchanger", "policy", "audit"] as const;

/** The allow lists of one permissions variable (`STS_ISSUER = { publish: { allow: [...] }, subscribe: { allow: [...] } }`). */
function permissionsVariable(conf: string, name: string): { pub: string[]; sub: string[] } {
  const uncommented = conf.replace(/#.*$/gm, "");
  const block = new RegExp(`^${name} = \\{([\\s\\S]*?)^\\}`, "m").exec(uncommented)?.[1];
  if (block === undefined) throw new Error(`${name} is not defined in ${PERMISSIONS_FILE}`);
  const [publish = "", subscribe = ""] = block.split(/^\s*subscribe:/m);
  const subjects = (text: string): string[] => [...text.matchAll(/"([^"]+)"/g)].map((m) => m[1] as string);
  return { pub: subjects(publish), sub: subjects(subscribe) };
}

/** A user of `account` with the permissions of `variable`, as a .creds file. */
async function credsFor(dir: string, service: string, account: KeyPair, variable: string): Promise<string> {
  const user = nkeys.createUser();
  const { pub, sub } = permissionsVariable(readFileSync(PERMISSIONS_FILE, "utf8"), variable);
  // Unlimited subscriptions and sizes (an absent limit is zero); only the subjects are restricted.
  const jwt = await encodeUser(`sts-${service}`, user, account, { pub: { allow: pub }, sub: { allow: sub }, subs: -1, data: -1, payload: -1 });
  const file = join(dir, `${service}.creds`);
  writeFileSync(file, fmtCreds(jwt, user), { mode: 0o600 });
  return file;
}

describe("NATS operator mode: each service logs in with its own user JWT (nats.creds_file)", () => {
  let dir: string;
  let stack: Stack;
  let grpc: ReturnType<typeof clients>;
  let account: KeyPair;
  const creds: Record<string, string> = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sts-nats-operator-"));
    const operator = nkeys.createOperator();
    account = nkeys.createAccount();
    // JetStream needs the server's own (system) account, which the operator names.
    const system = nkeys.createAccount();
    const operatorJwt = await encodeOperator("mesh-test", operator, { system_account: system.getPublicKey() });
    const systemJwt = await encodeAccount("SYS", system, {}, { signer: operator });
    // A JWT's absent limit is zero (no connection, no subscription, no JetStream), not unlimited.
    const limits = { subs: -1, data: -1, payload: -1, conn: -1, leaf: -1, imports: -1, exports: -1, wildcards: true };
    const accountJwt = await encodeAccount(
      "MESH",
      account,
      { limits: { ...limits, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } },
      { signer: operator },
    );
    const serverConf = join(dir, "operator.conf");
    writeFileSync(
      serverConf,
      [
        `operator: ${JSON.stringify(operatorJwt)}`,
        `system_account: ${system.getPublicKey()}`,
        "resolver: MEMORY",
        `resolver_preload: { ${system.getPublicKey()}: ${JSON.stringify(systemJwt)}, ${account.getPublicKey()}: ${JSON.stringify(accountJwt)} }`,
      ].join("\n"),
    );
    for (const service of SERVICES_WITH_NATS) creds[service] = await credsFor(dir, service, account, `STS_${service.toUpperCase()}`);

    const auditor = { client_id: "auditor", client_secret: SECRET, scope: ["audit:read"], audience: ["sts-audit"] };
    stack = await startStack({ ...chainConfig, clients: [...chainConfig.clients, auditor] }, { services: [], nats: { include: [serverConf] } });
    // The issuer first, as it owns what the others open.
    for (const name of [...SERVICES_WITH_NATS, "gateway"] as const)
      await stack.start(name, name === "gateway" ? {} : { STS_NATS_CREDS_FILE: creds[name] as string });
    grpc = clients(stack.address);
  }, 120_000);

  afterAll(async () => {
    grpc?.close();
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("issues, exchanges, revokes and audits with only the documented permissions", async () => {
    const t1 = await postForm(
      `${stack.gatewayUrl}/oauth2/token`,
      { grant_type: "client_credentials", scope: "a b c" },
      { authorization: basicAuth("end-user-app", SECRET) },
    );
    expect(t1.status, JSON.stringify(t1.body)).toBe(200);
    const subject = t1.body.access_token as string;
    const exchange = () =>
      postForm(
        `${stack.gatewayUrl}/oauth2/token`,
        { grant_type: EXCHANGE_GRANT, subject_token: subject, subject_token_type: TOKEN_TYPE_AT, audience: "svc-b", scope: "b" },
        { authorization: basicAuth("svc-a", SECRET) },
      );
    const t2 = await exchange();
    expect(t2.status, JSON.stringify(t2.body)).toBe(200);
    expect((await postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token: subject }, { authorization: basicAuth("end-user-app", SECRET) })).status).toBe(200);
    // The exchanger hears of the revocation through its KV watch, under its own user.
    await waitFor(async () => (await exchange()).status === 400, { timeoutMs: 10_000, message: "the exchanger still exchanges a revoked token" });

    const auditorToken = await postForm(
      `${stack.gatewayUrl}/oauth2/token`,
      { grant_type: "client_credentials", audience: "sts-audit", scope: "audit:read" },
      { authorization: basicAuth("auditor", SECRET) },
    );
    const auditor = bearer(auditorToken.body.access_token as string);
    const jti = claimsOf(subject).jti as string;
    // The audit service's durable consumer projected the tokens, and its read is itself recorded (audit.accessed).
    await waitFor(
      async () => {
        const r = await call<QueryResponse__Output>(grpc.audit, "Query", { filter: {}, page_size: 1000, page_token: "" }, auditor);
        return (
          r.ok &&
          r.value.records.some((x) => x.type === EVENT_TYPES.TOKEN_REVOKED && x.jti === jti) &&
          r.value.records.some((x) => x.type === EVENT_TYPES.TOKEN_EXCHANGED) &&
          r.value.records.some((x) => x.type === EVENT_TYPES.AUDIT_ACCESSED)
        );
      },
      { timeoutMs: 10_000, message: "the audit projection did not record the tokens and the read" },
    );
    expect(stack.nats.output()).not.toMatch(/Violation/i);
  });

  it("refuses a user the server's account does not vouch for, and the service stops naming the file, not the seed", async () => {
    const stranger = nkeys.createAccount();
    const file = await credsFor(dir, "stranger", stranger, "STS_EXCHANGER");
    const outcome = await stack.startReplica("exchanger", { STS_NATS_CREDS_FILE: file }).then(
      () => "started",
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    expect(outcome).toContain(`cannot connect to NATS as sts-exchanger with the credentials file ${file}`);
    expect(outcome).toMatch(/Authorization Violation/);
    const seed = /-----BEGIN USER NKEY SEED-----\n(\S+)/.exec(readFileSync(file, "utf8"))?.[1] as string;
    expect(outcome).not.toContain(seed);
    // The same permissions signed by the right account are let in.
    const good = await credsFor(dir, "second-exchanger", account, "STS_EXCHANGER");
    await expect(stack.startReplica("exchanger", { STS_NATS_CREDS_FILE: good })).resolves.toBeDefined();
  });
});
