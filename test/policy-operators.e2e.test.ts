/**
 * Policy operators as individual identities, and every policy change
 * recorded under its author. An operator is a client of this stack: it gets
 * an access token from the gateway (client_credentials, audience
 * sts-policy, scope policy:read or policy:write) and calls the policy API
 * with it; each Put and Delete is announced by a durable policy.updated event
 * naming the operator, and the stored version names it too (Get, List). The
 * shared STS_POLICY_ADMIN_TOKEN stays as a break-glass credential, recorded
 * as such. Real nats-server, issuer, gateway, policy and audit processes.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { SignJWT, decodeProtectedHeader, generateKeyPair } from "jose";
import type { ListResponse__Output, Policy__Output } from "@sts/proto";
import { EVENT_TYPES } from "@sts/nats";
import { waitFor } from "@sts/testkit";
import { ROOT, basicAuth, claimsOf, clientCredentialsToken, leakedTokens, postForm, startStack, storedEvents } from "./harness.js";
import type { Stack, StoredEvent } from "./harness.js";
import { SECRET, bearer, call, clients } from "./chain.js";
import type { CallFailure } from "./chain.js";

const config = {
  tokens: { clock_tolerance: 0 },
  clients: [
    // May also ask for another audience: the policy API must tell them apart.
    { client_id: "ops-writer", client_secret: SECRET, scope: ["policy:read", "policy:write"], audience: ["sts-policy", "svc-x"] },
    { client_id: "ops-reader", client_secret: SECRET, scope: ["policy:read", "audit:read"], audience: ["sts-policy", "sts-audit"] },
  ],
};
const TEXT = 'forbid (principal == Client::"svc-z", action, resource);';

let stack: Stack;
let grpc: ReturnType<typeof clients>;
/** Every token this file obtained: none may ever appear in a stored event. */
const obtained: string[] = [];

beforeAll(async () => {
  stack = await startStack(config, { services: ["issuer", "gateway", "policy", "audit"] });
  grpc = clients(stack.address);
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
});

/** An access token from the gateway's client_credentials grant, remembered to check that no event holds it. */
const tokenFor = (client: string, form: { audience: string; scope: string }): Promise<string> =>
  clientCredentialsToken(stack, client, SECRET, form).then((token) => {
    obtained.push(token);
    return token;
  });
const writerToken = (): Promise<string> => tokenFor("ops-writer", { audience: "sts-policy", scope: "policy:write" });
const readerToken = (): Promise<string> => tokenFor("ops-reader", { audience: "sts-policy", scope: "policy:read" });

const put = (credential: string | undefined, id: string, text = TEXT) =>
  call<{ revision: string }>(grpc.policy, "Put", { policy: { id, text, description: `by test` } }, bearer(credential));
const del = (credential: string | undefined, id: string) => call(grpc.policy, "Delete", { id }, bearer(credential));
const list = async (credential: string): Promise<Policy__Output[]> => {
  const r = await call<ListResponse__Output>(grpc.policy, "List", {}, bearer(credential));
  if (!r.ok) throw new Error(r.failure.description);
  return r.value.policies;
};
const refusal = (r: { ok: true } | { ok: false; failure: CallFailure }): [number, string | undefined] | "allowed" =>
  r.ok ? "allowed" : [r.failure.grpcCode, r.failure.error];

const policyUpdates = async (): Promise<StoredEvent[]> => (await storedEvents(stack.nats.url)).filter((e) => e.type === EVENT_TYPES.POLICY_UPDATED);
/** The policy.updated event of one revision, read from the JetStream events stream. */
const policyUpdated = (revision: string): Promise<StoredEvent> =>
  waitFor(
    async () => (await policyUpdates()).find((e) => new RegExp(`^policy\\.updated\\.\\d{20,}\\.${revision}$`).test((JSON.parse(e.raw) as { id: string }).id)),
    {
      timeoutMs: 10_000,
      message: `no policy.updated for revision ${revision}`,
    },
  );

describe("an operator's access token with the write scope", () => {
  it("puts a policy, announced by a policy.updated event naming the operator's sub, client_id and jti, never the token; Get and List name the author", async () => {
    const token = await writerToken();
    const { jti } = claimsOf(token) as { jti: string };
    const written = await put(token, "ops/freeze-z");
    if (!written.ok) throw new Error(written.failure.description);
    const event = await policyUpdated(written.value.revision);
    expect(event.data).toMatchObject({
      revision: written.value.revision,
      policy_id: "ops/freeze-z",
      operation: "put",
      credential: "access_token",
      sub: "ops-writer",
      client_id: "ops-writer",
      jti,
    });
    expect(event.data.policy_ids).toContain("ops/freeze-z");
    expect(event.raw).not.toContain(token.split(".")[2]);

    const author = { credential: "access_token", sub: "ops-writer", client_id: "ops-writer", jti };
    const got = await call<Policy__Output>(grpc.policy, "Get", { id: "ops/freeze-z" }, bearer(token));
    expect(got.ok && got.value).toMatchObject({ id: "ops/freeze-z", revision: written.value.revision, author });
    expect((await list(token)).find((p) => p.id === "ops/freeze-z")?.author).toEqual(author);
  });

  it("deletes a policy, and the deletion's policy.updated event names who deleted it", async () => {
    const token = await writerToken();
    const { jti } = claimsOf(token) as { jti: string };
    expect((await put(token, "ops/short-lived")).ok).toBe(true);
    const before = (await policyUpdates()).length;
    expect((await del(token, "ops/short-lived")).ok).toBe(true);
    const deletion = await waitFor(async () => (await policyUpdates()).slice(before).find((e) => e.data.operation === "delete"), {
      timeoutMs: 10_000,
      message: "the deletion was not announced",
    });
    expect(deletion.data).toMatchObject({ policy_id: "ops/short-lived", credential: "access_token", sub: "ops-writer", jti });
    expect(deletion.data.policy_ids).not.toContain("ops/short-lived");
    const gone = await call(grpc.policy, "Get", { id: "ops/short-lived" }, bearer(token));
    expect(!gone.ok && [gone.failure.error, gone.failure.description]).toEqual(["not_found", "no such policy"]);
  });
});

describe("an operator's access token with the read scope only", () => {
  it("gets, lists and asks what-if, but Put and Delete are refused PERMISSION_DENIED (insufficient_scope) and change nothing", async () => {
    const seeded = await put(stack.secrets.policyAdmin, "ops/read-only-target");
    if (!seeded.ok) throw new Error(seeded.failure.description);
    const token = await readerToken();
    const got = await call<Policy__Output>(grpc.policy, "Get", { id: "ops/read-only-target" }, bearer(token));
    expect(got.ok && got.value.revision).toBe(seeded.value.revision);
    const request = {
      client_id: "svc-z",
      audience: "svc-y",
      requested_scopes: ["y"],
      subject: { sub: "u", scopes: ["y"] },
      depth: 1,
      caller_in_audience: true,
    };
    const whatIf = await call<{ allow: boolean; policy_ids: string[] }>(grpc.policy, "Validate", { request }, bearer(token));
    expect(whatIf.ok && whatIf.value.allow).toBe(false);
    expect(whatIf.ok && whatIf.value.policy_ids).toContain("ops/read-only-target");

    const listed = await list(token);
    const events = (await policyUpdates()).length;
    expect(refusal(await put(token, "ops/read-only-target", "permit (principal, action, resource);"))).toEqual([
      status.PERMISSION_DENIED,
      "insufficient_scope",
    ]);
    expect(refusal(await put(token, "ops/by-a-reader"))).toEqual([status.PERMISSION_DENIED, "insufficient_scope"]);
    expect(refusal(await del(token, "ops/read-only-target"))).toEqual([status.PERMISSION_DENIED, "insufficient_scope"]);
    expect(await list(token)).toEqual(listed);
    expect((await policyUpdates()).length).toBe(events);
  });
});

describe("a credential that is not an operator's", () => {
  it("is refused UNAUTHENTICATED (invalid_token): another audience, a forged or garbage token, none at all, a wrong shared secret; nothing changes", async () => {
    const good = await writerToken();
    const otherAudience = await tokenFor("ops-writer", { audience: "svc-x", scope: "policy:write" });
    const { privateKey } = await generateKeyPair("ES256");
    const forged = await new SignJWT(claimsOf(good)).setProtectedHeader({ ...decodeProtectedHeader(good), alg: "ES256" }).sign(privateKey);
    const listed = await list(good);
    const events = (await policyUpdates()).length;
    const cases: Array<[string, string | undefined]> = [
      ["another audience", otherAudience],
      ["signed with another key", forged],
      ["not a token", "garbage"],
      ["no credential", undefined],
      ["a wrong shared secret", `${stack.secrets.policyAdmin}x`],
    ];
    for (const [what, credential] of cases) {
      expect(refusal(await put(credential, "ops/intruder")), what).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
      expect(refusal(await del(credential, "ops/freeze-z")), what).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
      expect(refusal(await call(grpc.policy, "List", {}, bearer(credential))), what).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
    }
    expect(await list(good)).toEqual(listed);
    expect((await policyUpdates()).length).toBe(events);
  });

  it("is refused UNAUTHENTICATED once revoked at the gateway (RFC 7009), and changes nothing, while a new token of the same operator writes", async () => {
    const token = await writerToken();
    expect((await list(token)).length).toBeGreaterThan(0);
    const revoked = await postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token }, { authorization: basicAuth("ops-writer", SECRET) });
    expect(revoked.status).toBe(200);
    // A read, never a write, waits for the revocation to reach the policy service: a write let in before would be kept.
    const refused = await waitFor(
      async () => {
        const r = await call(grpc.policy, "List", {}, bearer(token));
        return r.ok ? undefined : r.failure;
      },
      { timeoutMs: 10_000, message: "the revoked token still reads policies" },
    );
    expect([refused.grpcCode, refused.error]).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
    const fresh = await writerToken();
    const listed = await list(fresh);
    expect(refusal(await put(token, "ops/after-revocation"))).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
    expect(refusal(await del(token, "ops/freeze-z"))).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
    expect(await list(fresh)).toEqual(listed);
    expect(listed.map((p) => p.id)).not.toContain("ops/after-revocation");
    expect((await put(fresh, "ops/after-revocation")).ok).toBe(true);
  });
});

describe("the break-glass credential (STS_POLICY_ADMIN_TOKEN)", () => {
  it("still writes, recorded as break-glass, not as a person", async () => {
    const written = await put(stack.secrets.policyAdmin, "ops/break-glass");
    if (!written.ok) throw new Error(written.failure.description);
    expect((await policyUpdated(written.value.revision)).data).toMatchObject({ credential: "break_glass", sub: "break-glass", client_id: "", jti: "" });
    const got = await call<Policy__Output>(grpc.policy, "Get", { id: "ops/break-glass" }, bearer(stack.secrets.policyAdmin));
    expect(got.ok && got.value.author).toEqual({ credential: "break_glass", sub: "break-glass", client_id: "", jti: "" });
  });

  it("is not needed: without it, an operator's token writes and the old secret is refused", async () => {
    await stack.processes.policy?.stop();
    await stack.start("policy", { STS_POLICY_ADMIN_TOKEN: "" });
    try {
      expect((await put(await writerToken(), "ops/no-break-glass")).ok).toBe(true);
      expect(refusal(await put(stack.secrets.policyAdmin, "ops/no-break-glass"))).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
    } finally {
      await stack.processes.policy?.stop();
      await stack.start("policy");
    }
  }, 60_000);
});

describe("stsctl", () => {
  const stsctl = (env: Record<string, string>, group: string, ...args: string[]) =>
    promisify(execFile)(
      process.execPath,
      [join(ROOT, "services/audit/dist/stsctl.js"), group, ...args, "--addr", group === "policy" ? stack.address.policy : stack.address.audit],
      {
        cwd: ROOT,
        env: { ...process.env, STS_POLICY_ADMIN_TOKEN: "", STS_POLICY_ACCESS_TOKEN: "", STS_AUDIT_TOKEN: "", STS_AUDIT_ACCESS_TOKEN: "", ...env },
      },
    ).then(
      ({ stdout }) => ({ code: 0, out: stdout }),
      // A denied check (exit 4) answers on standard output; a failure on standard error.
      (e: { code: number; stderr: string; stdout: string }) => ({ code: e.code, out: e.stderr || e.stdout }),
    );

  it("writes and reads policies with an operator's token from STS_POLICY_ACCESS_TOKEN or --access-token-file, recorded under the operator, not the break-glass credential", async () => {
    const token = await writerToken();
    const { jti } = claimsOf(token) as { jti: string };
    const dir = mkdtempSync(join(tmpdir(), "sts-stsctl-policy-"));
    try {
      const file = join(dir, "freeze.cedar");
      writeFileSync(file, TEXT);
      // Given both, the operator's own token is the one used.
      const written = await stsctl(
        { STS_POLICY_ACCESS_TOKEN: token, STS_POLICY_ADMIN_TOKEN: stack.secrets.policyAdmin },
        "policy",
        "put",
        "ops/by-stsctl",
        "--file",
        file,
      );
      expect(written.code, written.out).toBe(0);
      const revision = /^policy ops\/by-stsctl written at revision (\d+)\n$/.exec(written.out)?.[1];
      expect(revision, written.out).toBeDefined();
      expect((await policyUpdated(revision ?? "")).data).toMatchObject({ credential: "access_token", sub: "ops-writer", client_id: "ops-writer", jti });

      const listed = await stsctl({ STS_POLICY_ACCESS_TOKEN: token }, "policy", "list");
      expect(listed.out.split("\n")).toContain(`ops/by-stsctl rev=${revision} source=api by=ops-writer client=ops-writer jti=${jti} (access_token)`);
      writeFileSync(join(dir, "token"), `${await readerToken()}\n`, { mode: 0o600 });
      const got = await stsctl({}, "policy", "get", "ops/by-stsctl", "--access-token-file", join(dir, "token"));
      expect(got).toEqual({ code: 0, out: `ops/by-stsctl rev=${revision} source=api by=ops-writer client=ops-writer jti=${jti} (access_token)\n${TEXT}\n` });
      expect(await stsctl({}, "policy", "delete", "ops/by-stsctl", "--access-token-file", join(dir, "token"))).toEqual({
        code: 1,
        out: "stsctl: this call needs the policy:write scope\n",
      });
      expect((await stsctl({}, "policy", "list")).code).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("checks what-ifs with `stsctl policy check`: the set in force, a candidate text in place of a policy, the set without one; exit 4 on deny, and nothing changes", async () => {
    const writer = await writerToken();
    // A client no other test's policy names, so the freeze below is the only policy that speaks of it.
    const frozen = await put(writer, "ops/freeze-w", 'forbid (principal == Client::"svc-w", action, resource);');
    if (!frozen.ok) throw new Error(frozen.failure.description);
    const readerCredential = await readerToken();
    const reader = { STS_POLICY_ACCESS_TOKEN: readerCredential };
    const dir = mkdtempSync(join(tmpdir(), "sts-stsctl-check-"));
    try {
      const permit = join(dir, "permit.cedar");
      writeFileSync(permit, 'permit (principal == Client::"svc-w", action == Action::"exchange", resource == Audience::"svc-y");');
      const question = ["--client", "svc-w", "--aud", "svc-y", "--sub", "alice"];
      const candidate = ["--candidate", "ops/try-permit", "--file", permit];
      // In force: no permit at all, and the freeze.
      const inForce = await stsctl(reader, "policy", "check", ...question);
      expect(inForce.code, inForce.out).toBe(4);
      expect(inForce.out).toMatch(/^deny \(policy revision \d+\)\n/);
      // A permit tried beside it: the freeze still wins, and names itself.
      const withPermit = await stsctl(reader, "policy", "check", ...question, ...candidate);
      expect([withPermit.code, withPermit.out.split("\n")[1]]).toEqual([4, "  decided by: ops/freeze-w"]);
      // The same without the freeze: allowed by the candidate.
      const unfrozen = await stsctl(reader, "policy", "check", ...question, ...candidate, "--without", "ops/freeze-w");
      expect([unfrozen.code, unfrozen.out.split("\n").slice(0, 2)]).toEqual([0, [expect.stringMatching(/^allow /), "  decided by: ops/try-permit"]]);
      // Leaving out a policy that is not in force, or the candidate itself, is refused rather than answered.
      expect(await stsctl(reader, "policy", "check", ...question, "--without", "ops/never-written")).toEqual({ code: 1, out: "stsctl: no such policy\n" });
      expect(await stsctl(reader, "policy", "check", ...question, ...candidate, "--without", "ops/try-permit")).toEqual({
        code: 1,
        out: "stsctl: candidate and without name the same policy\n",
      });
      expect(await stsctl(reader, "policy", "check", "--client", "svc-w", "--sub", "alice")).toEqual({
        code: 2,
        out: "stsctl: check needs --client (the caller) and --aud (the target audience)\n",
      });
      // What-ifs change nothing: the freeze is in force, the candidate is not.
      expect((await list(readerCredential)).map((p) => p.id)).toEqual(expect.arrayContaining(["ops/freeze-w"]));
      expect((await list(readerCredential)).map((p) => p.id)).not.toContain("ops/try-permit");
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await del(writer, "ops/freeze-w");
    }
  });

  it("shows the author of each policy change in `stsctl audit query --type policy.updated`", async () => {
    const token = await writerToken();
    const { jti } = claimsOf(token) as { jti: string };
    expect((await put(token, "ops/audited")).ok).toBe(true);
    const auditor = await tokenFor("ops-reader", { audience: "sts-audit", scope: "audit:read" });
    const line = await waitFor(
      async () => {
        const r = await stsctl({ STS_AUDIT_ACCESS_TOKEN: auditor }, "audit", "query", "--type", "policy.updated", "--client", "ops-writer", "--limit", "1000");
        return r.out.split("\n").find((l) => l.includes(`jti=${jti}`));
      },
      { timeoutMs: 10_000, message: "the change is not in the audit projection" },
    );
    expect(line).toMatch(/ policy\.updated +sub=ops-writer client=ops-writer jti=/);
  });

  it("never stores a token in any event", async () => {
    // Tokens of its own, used for a change (recorded under its author) and a read: the check has something to look
    // for whichever tests ran before it.
    const writer = await writerToken();
    const reader = await readerToken();
    const changed = await put(writer, "ops/no-token-in-events");
    if (!changed.ok) throw new Error(changed.failure.description);
    expect(await list(reader)).not.toEqual([]);
    const recorded = await policyUpdated(changed.value.revision);
    expect(recorded.data).toMatchObject({ jti: claimsOf(writer).jti });
    const raw = (await storedEvents(stack.nats.url)).map((e) => e.raw).join("\n");
    expect(leakedTokens(raw, [writer, reader])).toEqual([]);
    // And none that the other tests of this file obtained, if any ran.
    expect(leakedTokens(raw, obtained)).toEqual([]);
  });
});
