/**
 * Auditors as individual identities, and every read of the audit trail
 * audited. An auditor is a client of this stack: it gets an access token
 * from the gateway (client_credentials, audience sts-audit, scope
 * audit:read) and reads the audit API with it; each read is recorded as an
 * `audit.accessed` event naming the auditor before it is answered, and fails
 * closed (UNAVAILABLE) when the record cannot be stored. The shared
 * STS_AUDIT_TOKEN stays as a break-glass credential, recorded as such. Real
 * nats-server, issuer, gateway and audit processes.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { SignJWT, decodeProtectedHeader, generateKeyPair } from "jose";
import type { AuditRecord__Output, QueryResponse__Output, VerifyResponse__Output } from "@sts/proto";
import { EVENT_TYPES } from "@sts/nats";
import { waitFor } from "@sts/testkit";
import { ROOT, basicAuth, claimsOf, clientCredentialsToken, postForm, startStack, storedEvents, whileEventsRefused } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, bearer, call, clients } from "./chain.js";

const BREAK_GLASS = "break-glass-0123456789abcdef0123";
const config = {
  tokens: { clock_tolerance: 0 },
  clients: [
    // May also ask for another audience and another scope: the audit API must tell them apart.
    { client_id: "auditor-alice", client_secret: SECRET, scope: ["audit:read", "reports"], audience: ["sts-audit", "svc-x"] },
    { client_id: "auditor-bob", client_secret: SECRET, scope: ["audit:read"], audience: ["sts-audit"] },
  ],
};

let stack: Stack;
let grpc: ReturnType<typeof clients>;
/** Every token this file obtained: none may ever appear in a stored event. */
const obtained: string[] = [];

beforeAll(async () => {
  stack = await startStack(config, { services: ["issuer", "gateway", "audit"], env: { STS_AUDIT_TOKEN: BREAK_GLASS } });
  grpc = clients(stack.address);
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
});

/** An access token from the gateway's client_credentials grant, remembered to check that no event holds it. */
async function tokenFor(client: string, form: { audience: string; scope: string }): Promise<string> {
  const token = await clientCredentialsToken(stack, client, SECRET, form);
  obtained.push(token);
  return token;
}

const query = (credential: string | undefined, filter: object, page_size = 100) =>
  call<QueryResponse__Output>(grpc.audit, "Query", { filter, page_size, page_token: "" }, bearer(credential));

/** A value no other read names: a read that asked for it is found by it in its audit.accessed record. */
const marker = (): string => `probe-${randomUUID()}`;

/** The data of an audit.accessed record. */
const accessOf = (r: AuditRecord__Output): { rpc: string; credential: string; sub: string; client_id: string; jti: string; filter: Record<string, unknown> } =>
  JSON.parse(r.data_json) as ReturnType<typeof accessOf>;

/** The audit.accessed record of the read that asked for `sub: probe`, as Query returns it (read with `reader`). */
async function accessRecord(reader: string, probe: string): Promise<AuditRecord__Output> {
  return waitFor(
    async () => {
      const r = await query(reader, { type: EVENT_TYPES.AUDIT_ACCESSED }, 1000);
      if (!r.ok) throw new Error(r.failure.description);
      return r.value.records.find((x) => accessOf(x).filter.sub === probe);
    },
    { timeoutMs: 10_000, message: `no audit.accessed record of the read of ${probe}` },
  );
}

/** How many audit.accessed events the stream holds. */
const accessEvents = async (): Promise<number> => (await storedEvents(stack.nats.url)).filter((e) => e.type === EVENT_TYPES.AUDIT_ACCESSED).length;

describe("an auditor's access token", () => {
  it("reads Query, Lineage, Verify and Tail, each read recorded under the auditor's sub, client_id and jti", async () => {
    const token = await tokenFor("auditor-alice", { audience: "sts-audit", scope: "audit:read" });
    const { jti } = claimsOf(token) as { jti: string };
    const probe = marker();
    const read = await query(token, { sub: probe, since: "2020-01-01T00:00:00Z" }, 7);
    expect(read.ok && read.value.records).toEqual([]);

    const record = await accessRecord(token, probe);
    expect([record.type, record.sub, record.client_id, record.jti]).toEqual(["audit.accessed", "auditor-alice", "auditor-alice", jti]);
    expect(accessOf(record)).toMatchObject({
      rpc: "Query",
      credential: "access_token",
      sub: "auditor-alice",
      client_id: "auditor-alice",
      jti,
      filter: { sub: probe, since: "2020-01-01T00:00:00.000Z", limit: 7, after_sequence: 0 },
    });

    // The auditor's own token was issued, and so has a lineage; Verify reads the whole chain.
    const lineage = await waitFor(async () => {
      const r = await call(grpc.audit, "Lineage", { jti }, bearer(token));
      return r.ok ? r : undefined;
    });
    expect(lineage.ok).toBe(true);
    const verified = await call<VerifyResponse__Output>(grpc.audit, "Verify", {}, bearer(token));
    expect(verified.ok && verified.value.ok).toBe(true);
    const tailProbe = marker();
    const stream = grpc.audit.Tail({ filter: { sub: tailProbe }, after_sequence: "0" }, bearer(token));
    stream.on("error", () => undefined);
    try {
      const mine = await waitFor(
        async () => {
          const r = await query(token, { type: EVENT_TYPES.AUDIT_ACCESSED, client_id: "auditor-alice" }, 1000);
          const rpcs = r.ok ? r.value.records.filter((x) => x.jti === jti).map((x) => accessOf(x)) : [];
          return rpcs.some((a) => a.rpc === "Tail" && a.filter.sub === tailProbe) ? rpcs : undefined;
        },
        { timeoutMs: 10_000, message: "Lineage, Verify and Tail were not all recorded" },
      );
      expect(mine.find((a) => a.rpc === "Lineage")?.filter).toEqual({ jti });
      expect(mine.find((a) => a.rpc === "Verify")?.filter).toEqual({});
    } finally {
      stream.cancel();
    }
  });

  it("is refused without the audit scope: PERMISSION_DENIED, insufficient_scope", async () => {
    const token = await tokenFor("auditor-alice", { audience: "sts-audit", scope: "reports" });
    const r = await query(token, {});
    expect(!r.ok && [r.failure.grpcCode, r.failure.error]).toEqual([status.PERMISSION_DENIED, "insufficient_scope"]);
  });

  it("is refused UNAUTHENTICATED (invalid_token) for another audience, a forged token, none at all, and a wrong shared secret; nothing is recorded", async () => {
    const good = await tokenFor("auditor-alice", { audience: "sts-audit", scope: "audit:read" });
    const otherAudience = await tokenFor("auditor-alice", { audience: "svc-x", scope: "audit:read" });
    const [header, , signature] = good.split(".") as [string, string, string];
    const claims = claimsOf(good);
    // Our issuer's kid and claims, another key's signature; and our signature over claims edited to another auditor.
    const { privateKey } = await generateKeyPair("ES256");
    const otherKey = await new SignJWT(claims).setProtectedHeader({ ...decodeProtectedHeader(good), alg: "ES256" }).sign(privateKey);
    const edited = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: "auditor-bob" })).toString("base64url")}.${signature}`;
    const before = await accessEvents();
    const cases: Array<[string, string | undefined]> = [
      ["another audience", otherAudience],
      ["signed with another key", otherKey],
      ["edited under our signature", edited],
      ["no credential", undefined],
      ["not a token", "garbage"],
      ["a wrong shared secret", `${BREAK_GLASS}x`],
    ];
    for (const [what, credential] of cases) {
      const r = await query(credential, {});
      expect(!r.ok && [r.failure.grpcCode, r.failure.error], what).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
    }
    const tail = await new Promise<number | string>((resolve) => {
      const stream = grpc.audit.Tail({ after_sequence: "0" }, bearer(undefined));
      stream.on("error", (err: { code: number }) => resolve(err.code));
      stream.on("data", () => resolve("data"));
    });
    expect(tail).toBe(status.UNAUTHENTICATED);
    // The good token still reads: the refusals above are about the credential, not the stack.
    expect((await query(good, {})).ok).toBe(true);
    expect(await accessEvents()).toBe(before + 1);
  });

  it("is refused UNAUTHENTICATED after its revocation at the gateway (RFC 7009), while a new token of the same auditor reads", async () => {
    const token = await tokenFor("auditor-bob", { audience: "sts-audit", scope: "audit:read" });
    expect((await query(token, {})).ok).toBe(true);
    const revoked = await postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token }, { authorization: basicAuth("auditor-bob", SECRET) });
    expect(revoked.status).toBe(200);
    const refused = await waitFor(
      async () => {
        const r = await query(token, {});
        return r.ok ? undefined : r.failure;
      },
      { timeoutMs: 10_000, message: "the revoked token still reads the audit trail" },
    );
    expect([refused.grpcCode, refused.error]).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
    expect((await query(await tokenFor("auditor-bob", { audience: "sts-audit", scope: "audit:read" }), {})).ok).toBe(true);
  });

  it("is recorded by digest, never whole, when pasted into a filter; no stored event holds any token", async () => {
    const token = await tokenFor("auditor-alice", { audience: "sts-audit", scope: "audit:read" });
    expect((await query(token, { client_id: token })).ok).toBe(true);
    const record = await waitFor(async () => {
      const r = await query(token, { type: EVENT_TYPES.AUDIT_ACCESSED, client_id: "auditor-alice" }, 1000);
      return r.ok ? r.value.records.find((x) => /^sha256:/.test(String(accessOf(x).filter.client_id))) : undefined;
    });
    expect(accessOf(record).filter.client_id).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/);
    const events = await storedEvents(stack.nats.url);
    expect(events.filter((e) => e.type === EVENT_TYPES.AUDIT_ACCESSED).length).toBeGreaterThan(0);
    for (const t of obtained) for (const e of events) expect(e.raw.includes(t.split(".")[2] ?? t), `${e.type} holds a token`).toBe(false);
  });
});

describe("the break-glass credential (STS_AUDIT_TOKEN)", () => {
  it("still reads, and each read is recorded as break-glass, not as a person", async () => {
    const probe = marker();
    expect((await query(BREAK_GLASS, { sub: probe })).ok).toBe(true);
    const record = await accessRecord(BREAK_GLASS, probe);
    expect([record.sub, record.client_id, record.jti]).toEqual(["break-glass", "", ""]);
    expect(accessOf(record)).toMatchObject({ rpc: "Query", credential: "break_glass" });
  });
});

describe("stsctl", () => {
  const stsctl = (env: Record<string, string>, ...args: string[]) =>
    promisify(execFile)(process.execPath, [join(ROOT, "services/audit/dist/stsctl.js"), "audit", ...args, "--addr", stack.address.audit], {
      cwd: ROOT,
      env: { ...process.env, STS_AUDIT_TOKEN: "", STS_AUDIT_ACCESS_TOKEN: "", ...env },
    }).then(
      ({ stdout }) => ({ code: 0, out: stdout }),
      (e: { code: number; stderr: string }) => ({ code: e.code, out: e.stderr }),
    );

  it("reads with an auditor's token from STS_AUDIT_ACCESS_TOKEN or --access-token-file, recorded under the auditor, not the break-glass credential", async () => {
    const token = await tokenFor("auditor-alice", { audience: "sts-audit", scope: "audit:read" });
    // Given both, the auditor's own token is the one used.
    const probe = marker();
    const fromEnv = await stsctl({ STS_AUDIT_ACCESS_TOKEN: token, STS_AUDIT_TOKEN: BREAK_GLASS }, "query", "--sub", probe);
    expect(fromEnv.code, fromEnv.out).toBe(0);
    expect((await accessRecord(token, probe)).client_id).toBe("auditor-alice");

    const dir = mkdtempSync(join(tmpdir(), "sts-stsctl-"));
    try {
      writeFileSync(join(dir, "token"), `${token}\n`, { mode: 0o600 });
      const fromFile = await stsctl({}, "verify", "--access-token-file", join(dir, "token"));
      expect(fromFile).toMatchObject({ code: 0, out: expect.stringMatching(/^chain intact: \d+ records/) });
      const empty = join(dir, "empty");
      writeFileSync(empty, "");
      expect(await stsctl({}, "verify", "--access-token-file", empty)).toEqual({ code: 2, out: `stsctl: the access token file ${empty} is empty\n` });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const unscoped = await tokenFor("auditor-alice", { audience: "sts-audit", scope: "reports" });
    expect(await stsctl({ STS_AUDIT_ACCESS_TOKEN: unscoped }, "verify")).toEqual({ code: 1, out: "stsctl: this call needs the audit:read scope\n" });
    expect((await stsctl({}, "verify")).code).toBe(1);
  });
});

describe("fail closed", () => {
  it("answers UNAVAILABLE and reads nothing while the events stream refuses the record, and reads again once it takes it", async () => {
    const token = await tokenFor("auditor-alice", { audience: "sts-audit", scope: "audit:read" });
    expect((await query(token, {})).ok).toBe(true);
    const refused = await whileEventsRefused(stack.nats.url, async () => {
      for (const credential of [token, BREAK_GLASS]) {
        const r = await query(credential, {});
        expect(r.ok ? "answered" : [r.failure.grpcCode, r.failure.error]).toEqual([status.UNAVAILABLE, "temporarily_unavailable"]);
      }
    });
    expect(refused.lastSeqAfter).toBe(refused.lastSeq);
    expect((await query(token, {})).ok).toBe(true);
  }, 60_000);
});

describe("an expired token", () => {
  it("is refused UNAUTHENTICATED once the audit service's clock is past its exp", async () => {
    const token = await tokenFor("auditor-alice", { audience: "sts-audit", scope: "audit:read" });
    expect((await query(token, {})).ok).toBe(true);
    // The service reads its clock offset at start: started again an hour ahead, past the token's exp (it lives 300 s).
    await stack.processes.audit?.stop();
    await stack.start("audit", { STS_CLOCK_OFFSET: "3600" });
    try {
      const r = await query(token, {});
      expect(!r.ok && [r.failure.grpcCode, r.failure.error]).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
      expect((await query(BREAK_GLASS, {})).ok).toBe(true);
    } finally {
      await stack.processes.audit?.stop();
      await stack.start("audit");
    }
    expect((await query(token, {})).ok).toBe(true);
  }, 60_000);
});
