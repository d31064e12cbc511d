/**
 * PolicyService.Reset: an operator hands a config hop's policy back to the
 * config file after deleting or replacing it through the API. The stored
 * policy becomes the config file's version again, in force without a restart
 * and managed by the file: a later edit of the hop applies at the next start.
 * Each test works on its own hop, so none depends on another's order. Real
 * nats-server, issuer, gateway, policy and exchanger processes, and stsctl as
 * a process.
 */
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { parse, stringify } from "yaml";
import type { Policy__Output, ResetResponse__Output } from "@sts/proto";
import { BUCKETS, EVENT_TYPES, connectNats, encodeKey, openBucket } from "@sts/nats";
import { waitFor } from "@sts/testkit";
import { ROOT, claimsOf, clientCredentialsToken, startStack, storedEvents } from "./harness.js";
import type { Stack, StoredEvent } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, bearer, call, clients, exchange } from "./chain.js";
import type { CallResult } from "./chain.js";

/** Hops from svc-a, one per test: each test changes only its own. */
const TARGETS = ["svc-b", "svc-c", "svc-d", "svc-e", "svc-g", "svc-h"] as const;
const hop = (to: string): Record<string, unknown> => ({ from: "svc-a", to, scopes: ["b", "c"] });
const config = {
  tokens: { clock_tolerance: 0 },
  policy: { hops: TARGETS.map(hop) },
  clients: [
    { client_id: "end-user-app", client_secret: SECRET, scope: ["b", "c"], audience: ["svc-a"] },
    ...["svc-a", ...TARGETS].map((client_id) => ({
      client_id,
      client_secret: SECRET,
      grant_types: ["client_credentials", EXCHANGE_GRANT],
      scope: [],
      audience: [],
    })),
    { client_id: "ops-writer", client_secret: SECRET, scope: ["policy:read", "policy:write"], audience: ["sts-policy"] },
    { client_id: "ops-reader", client_secret: SECRET, scope: ["policy:read"], audience: ["sts-policy"] },
  ],
};
const exchangePolicy = (to: string): string => `hop/svc-a/${to}/exchange`;
const scopesPolicy = (to: string): string => `hop/svc-a/${to}/scopes`;

let stack: Stack;
let grpc: ReturnType<typeof clients>;

beforeAll(async () => {
  stack = await startStack(config, { services: ["issuer", "policy", "exchanger", "gateway"] });
  grpc = clients(stack.address);
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
});

const writerToken = (): Promise<string> => clientCredentialsToken(stack, "ops-writer", SECRET, { audience: "sts-policy", scope: "policy:write" });
const readerToken = (): Promise<string> => clientCredentialsToken(stack, "ops-reader", SECRET, { audience: "sts-policy", scope: "policy:read" });

const reset = (credential: string | undefined, id: string, expectedRevision = "0"): Promise<CallResult<ResetResponse__Output>> =>
  call<ResetResponse__Output>(grpc.policy, "Reset", { id, expected_revision: expectedRevision }, bearer(credential));
const get = (id: string): Promise<CallResult<Policy__Output>> => call<Policy__Output>(grpc.policy, "Get", { id }, bearer(stack.secrets.policyAdmin));
const del = (credential: string, id: string): Promise<CallResult<unknown>> => call(grpc.policy, "Delete", { id }, bearer(credential));
const put = (credential: string, id: string, text: string): Promise<CallResult<{ revision: string }>> =>
  call<{ revision: string }>(grpc.policy, "Put", { policy: { id, text, description: "operator's replacement" } }, bearer(credential));

/** The value of a call that must succeed. */
function ok<T>(r: CallResult<T>): T {
  if (!r.ok) throw new Error(`${r.failure.error}: ${r.failure.description}`);
  return r.value;
}
const refusal = (r: CallResult<unknown>): [number, string | undefined, string] | "allowed" =>
  r.ok ? "allowed" : [r.failure.grpcCode, r.failure.error, r.failure.description];

/** Requests no scope: the hop's default scopes apply. */
const DEFAULT_SCOPES = "";

/** What svc-a gets for `to` from a token of the end user's (scopes b c) asking for `scope`: the scopes granted, or the OAuth error. */
async function granted(to: string, scope = "b c"): Promise<string> {
  const subject = await clientCredentialsToken(stack, "end-user-app", SECRET, { scope: "b c" });
  const r = await exchange(grpc.exchange, "svc-a", subject, { audience: [to], ...(scope !== DEFAULT_SCOPES && { scope }) });
  return r.ok ? String(claimsOf(r.value.access_token).scope) : (r.failure.error ?? r.failure.description);
}

/** Waits until the exchange answers `expected` (the exchangers drop their cached decisions on hearing policy.updated). */
const grantedEventually = (to: string, expected: string, scope = "b c"): Promise<string> =>
  waitFor(async () => ((await granted(to, scope)) === expected ? expected : undefined), {
    timeoutMs: 10_000,
    message: `svc-a → ${to} never answered ${expected}`,
  });

/** The version stored in the policies bucket under an id, read directly (not through the service), with its KV revision. */
async function storedVersion(id: string): Promise<{ revision: number; value: Record<string, unknown> | undefined }> {
  const nats = await connectNats({ servers: stack.nats.url, name: "test-policies" });
  try {
    const kv = await openBucket(nats, BUCKETS.policies, { bind: true });
    const entry = await kv.get(encodeKey(id));
    return { revision: entry?.revision ?? 0, value: entry?.operation === "PUT" ? entry.json<Record<string, unknown>>() : undefined };
  } finally {
    await nats.close();
  }
}

/** The policies bucket's latest revision: unchanged means nothing was written. */
async function bucketRevision(): Promise<number> {
  const nats = await connectNats({ servers: stack.nats.url, name: "test-policies" });
  try {
    return (await nats.jsm.streams.info(`KV_${BUCKETS.policies}`)).state.last_seq;
  } finally {
    await nats.close();
  }
}

/** Every policy.updated event stored, with its revision. */
async function policyUpdates(): Promise<StoredEvent[]> {
  return (await storedEvents(stack.nats.url)).filter((e) => e.type === EVENT_TYPES.POLICY_UPDATED);
}
/** The stored policy.updated events of revisions after `revision`. */
const updatesAfter = async (revision: number): Promise<StoredEvent[]> => (await policyUpdates()).filter((e) => Number(e.data.revision) > revision);
/** The policy.updated event of one revision (it is stored before Reset answers). */
const updateOf = async (revision: string): Promise<StoredEvent | undefined> => (await policyUpdates()).find((e) => e.data.revision === revision);

/** Stops the policy service and starts it again, reading the config file as it is now. */
async function restartPolicy(): Promise<void> {
  await stack.processes.policy?.stop();
  await stack.start("policy");
}

/** Runs `body` with the hop to `to` changed in the config file and the policy service restarted on it; then puts both back. */
async function withConfigHop(to: string, changed: Record<string, unknown>, body: () => Promise<void>): Promise<void> {
  const original = readFileSync(stack.configFile, "utf8");
  const doc = parse(original) as { policy: { hops: Array<Record<string, unknown>> } };
  doc.policy.hops = doc.policy.hops.map((h) => (h.to === to ? changed : h));
  writeFileSync(stack.configFile, stringify(doc));
  try {
    await restartPolicy();
    await body();
  } finally {
    writeFileSync(stack.configFile, original);
    await restartPolicy();
  }
}

describe("Reset of a config hop an operator deleted", () => {
  it("is allowed again without a restart, and follows the config file again: a later edit of the hop applies at the next start", async () => {
    const to = "svc-b";
    const id = exchangePolicy(to);
    const writer = await writerToken();
    expect(await granted(to)).toBe("b c");
    ok(await del(writer, id));
    await grantedEventually(to, "invalid_target");

    // The existing behaviour: the operator's deletion outlives a start with the hop still in the config file.
    await restartPolicy();
    expect(refusal(await get(id))).toEqual([status.NOT_FOUND, "not_found", "no such policy"]);
    await grantedEventually(to, "invalid_target");

    const answer = ok(await reset(writer, id));
    expect(answer.changed).toBe(true);
    // The Reset answered once its record was stored; the exchanger drops its decisions on hearing it: no restart.
    await grantedEventually(to, "b c");
    const stored = await storedVersion(id);
    expect(stored.revision).toBe(Number(answer.revision));
    expect(stored.value).toMatchObject({ id, source: "config", change: "reset", author: { sub: "ops-writer", client_id: "ops-writer" } });
    expect(ok(await get(id))).toMatchObject({ id, revision: answer.revision, author: { sub: "ops-writer" } });

    // A later edit of the hop (default scopes b only: only the exchange policy's @default_scope changes) applies at the
    // next start, as for any config hop: an operator's version would have kept b c.
    expect(await granted(to, DEFAULT_SCOPES)).toBe("b c");
    await withConfigHop(to, { ...hop(to), default_scopes: ["b"] }, async () => {
      await grantedEventually(to, "b", DEFAULT_SCOPES);
      expect((await storedVersion(id)).value).toMatchObject({ source: "config", text: expect.stringContaining('@default_scope("b")') });
      expect((await storedVersion(id)).value).not.toHaveProperty("author");
    });
    await grantedEventually(to, "b c", DEFAULT_SCOPES);
  }, 120_000);
});

describe("a config hop whose policy could not be stored", () => {
  it("stops the replica at start, naming the policy, before anything is seeded: Reset could never restore it", async () => {
    const to = "svc-f";
    // Enough scopes that the compiled policy is past the size Put takes.
    const scopes = Array.from({ length: 3000 }, (_, i) => `scope-number-${i.toString().padStart(6, "0")}`);
    const doc = parse(readFileSync(stack.configFile, "utf8")) as { policy: { hops: Array<Record<string, unknown>> } };
    doc.policy.hops.push({ from: "svc-a", to, scopes });
    const file = join(dirname(stack.configFile), "oversized-hop.yaml");
    writeFileSync(file, stringify(doc));
    const err = await stack.startReplica("policy", { STS_CONFIG: file }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/^policy exited \(1\) before ready/);
    expect(err?.message).toMatch(
      new RegExp(
        `policy\\.hops\\[${doc.policy.hops.length - 1}\\] \\("svc-a" → "svc-f"\\), its policy ${scopesPolicy(to)}: \\d+ bytes, past the 65536 a policy may have`,
      ),
    );
    // Nothing seeded, not even the hop's other policy, which alone would have passed.
    for (const id of [exchangePolicy(to), scopesPolicy(to)]) expect(refusal(await get(id))).toEqual([status.NOT_FOUND, "not_found", "no such policy"]);
  }, 60_000);
});

describe("Reset of a config hop an operator replaced with Put", () => {
  it("restores the config file's version, text and description, in force at once", async () => {
    const to = "svc-c";
    const id = scopesPolicy(to);
    const seeded = ok(await get(id));
    expect(seeded.source).toBe("config");
    const writer = await writerToken();
    const narrower = `permit (principal == Client::"svc-a", action == Action::"request_scope", resource == Audience::"${to}") when { context.scope == "b" };`;
    ok(await put(writer, id, narrower));
    await grantedEventually(to, "b");
    expect((await storedVersion(id)).value).toMatchObject({ source: "api" });
    expect(ok(await get(id)).source).toBe("api");

    const answer = ok(await reset(writer, id));
    expect(answer.changed).toBe(true);
    await grantedEventually(to, "b c");
    const restored = ok(await get(id));
    expect(restored).toMatchObject({ id, text: seeded.text, description: seeded.description, revision: answer.revision, source: "config" });
    expect(BigInt(restored.revision)).toBeGreaterThan(BigInt(seeded.revision));
    expect((await storedVersion(id)).value).toMatchObject({ source: "config", change: "reset" });
  });
});

describe("Reset of an id the config file does not declare", () => {
  it("is not_found (NOT_FOUND) naming the id, whether another policy holds it or none does, and changes nothing", async () => {
    const writer = await writerToken();
    const own = "ops/operators-own";
    ok(await put(writer, own, 'forbid (principal == Client::"svc-z", action, resource);'));
    const before = await bucketRevision();
    const ownBefore = ok(await get(own));
    for (const id of [own, exchangePolicy("svc-z")]) {
      expect(refusal(await reset(writer, id))).toEqual([status.NOT_FOUND, "not_found", "the config file declares no hop policy of that id"]);
    }
    expect(await bucketRevision()).toBe(before);
    expect(ok(await get(own))).toEqual(ownBefore);
    expect(refusal(await get(exchangePolicy("svc-z")))).toEqual([status.NOT_FOUND, "not_found", "no such policy"]);
    expect(await updatesAfter(before)).toEqual([]);
  });
});

describe("Reset without the policy:write scope", () => {
  it("is refused (insufficient_scope with policy:read only, invalid_token without a credential or with a wrong one) and changes nothing", async () => {
    const to = "svc-d";
    const id = exchangePolicy(to);
    ok(await del(await writerToken(), id));
    await grantedEventually(to, "invalid_target");
    const before = await bucketRevision();
    const reader = await readerToken();
    expect(refusal(await reset(reader, id))).toEqual([status.PERMISSION_DENIED, "insufficient_scope", "this call needs the policy:write scope"]);
    // Refused before the id is looked at: a reader learns nothing about which hops the config file declares.
    expect(refusal(await reset(reader, exchangePolicy("svc-z")))[1]).toBe("insufficient_scope");
    for (const credential of [undefined, "garbage", `${stack.secrets.policyAdmin}x`]) {
      expect(refusal(await reset(credential, id))).toEqual([status.UNAUTHENTICATED, "invalid_token", expect.any(String)]);
    }
    expect(await bucketRevision()).toBe(before);
    expect(await updatesAfter(before)).toEqual([]);
    expect(refusal(await get(id))[2]).toBe("no such policy");
    expect(await granted(to)).toBe("invalid_target");
  });
});

describe("Reset of a policy that already is the config file's version", () => {
  it("writes nothing and publishes nothing, answering the current revision: a second Reset, and one of an untouched hop", async () => {
    const to = "svc-e";
    const id = exchangePolicy(to);
    const writer = await writerToken();
    ok(await put(writer, id, `permit (principal == Client::"svc-a", action == Action::"exchange", resource == Audience::"${to}");`));
    const first = ok(await reset(writer, id));
    expect(first.changed).toBe(true);
    const before = await bucketRevision();
    expect(ok(await reset(writer, id))).toEqual({ revision: first.revision, changed: false });
    const untouched = ok(await get(scopesPolicy(to)));
    expect(ok(await reset(writer, scopesPolicy(to)))).toEqual({ revision: untouched.revision, changed: false });
    expect(await bucketRevision()).toBe(before);
    expect(await updatesAfter(before)).toEqual([]);
    expect((await storedVersion(id)).revision).toBe(Number(first.revision));
  });

  it("with a stale expected revision, is refused as Put is", async () => {
    const id = scopesPolicy("svc-e");
    const current = ok(await get(id));
    const stale = String(BigInt(current.revision) - 1n);
    expect(refusal(await reset(await writerToken(), id, stale))).toEqual([
      status.INVALID_ARGUMENT,
      "invalid_request",
      `the policy changed since revision ${stale}; Get it again`,
    ]);
    expect(ok(await reset(await writerToken(), id, current.revision))).toEqual({ revision: current.revision, changed: false });
  });
});

describe("the policy.updated event of a reset", () => {
  it("names the operator and says it was a reset, a put of the config's version; break-glass is recorded as such", async () => {
    const to = "svc-g";
    const id = exchangePolicy(to);
    const writer = await writerToken();
    const { jti } = claimsOf(writer) as { jti: string };
    ok(await del(writer, id));
    const byOperator = ok(await reset(writer, id));
    const event = await updateOf(byOperator.revision);
    expect(event?.data).toEqual({
      revision: byOperator.revision,
      policy_ids: expect.arrayContaining([id]) as unknown,
      policy_id: id,
      operation: "put",
      change: "reset",
      text_sha256: expect.stringMatching(/^[\w-]{43}$/) as unknown,
      credential: "access_token",
      sub: "ops-writer",
      client_id: "ops-writer",
      jti,
    });
    expect(event?.raw).not.toContain(writer.split(".")[2]);

    ok(await del(writer, id));
    const byBreakGlass = ok(await reset(stack.secrets.policyAdmin, id));
    expect((await updateOf(byBreakGlass.revision))?.data).toMatchObject({
      policy_id: id,
      change: "reset",
      credential: "break_glass",
      sub: "break-glass",
      client_id: "",
      jti: "",
    });
    // A Put is not a reset.
    const putAt = ok(await put(writer, id, `permit (principal == Client::"svc-a", action == Action::"exchange", resource == Audience::"${to}");`));
    expect((await updateOf(putAt.revision))?.data).not.toHaveProperty("change");
  });
});

describe("stsctl policy reset", () => {
  const stsctl = (...args: string[]) =>
    promisify(execFile)(process.execPath, [join(ROOT, "services/audit/dist/stsctl.js"), "policy", ...args, "--addr", stack.address.policy], {
      cwd: ROOT,
      env: { ...process.env, STS_POLICY_ADMIN_TOKEN: "", STS_POLICY_ACCESS_TOKEN: writer },
    }).then(
      ({ stdout }) => ({ code: 0, out: stdout }),
      (e: { code: number; stderr: string }) => ({ code: e.code, out: e.stderr }),
    );
  let writer = "";

  it("hands a policy back as a process, says when there was nothing to write, and takes an id beginning with -", async () => {
    writer = await writerToken();
    const to = "svc-h";
    const id = exchangePolicy(to);
    ok(await del(writer, id));
    await grantedEventually(to, "invalid_target");

    const done = await stsctl("reset", id);
    const revision = new RegExp(`^policy ${id} handed back to the config file at revision (\\d+)\\n$`).exec(done.out)?.[1];
    expect(done.code, done.out).toBe(0);
    expect(revision, done.out).toBeDefined();
    await grantedEventually(to, "b c");
    expect((await updateOf(revision ?? ""))?.data).toMatchObject({ policy_id: id, change: "reset", sub: "ops-writer" });

    expect(await stsctl("reset", id)).toEqual({ code: 0, out: `policy ${id} already is the config file's version (revision ${revision}); nothing written\n` });
    expect(await stsctl("reset", id, "--json", "--expected-revision", revision ?? "")).toEqual({
      code: 0,
      out: `${JSON.stringify({ revision, changed: false })}\n`,
    });
    expect(await stsctl("reset", id, "--expected-revision", "1")).toEqual({ code: 1, out: "stsctl: the policy changed since revision 1; Get it again\n" });
    expect(await stsctl("reset", id, "--expected-revision", "x")).toEqual({ code: 2, out: "stsctl: --expected-revision takes a revision number\n" });
    expect(await stsctl("reset", "-not-a-hop")).toEqual({ code: 1, out: "stsctl: the config file declares no hop policy of that id\n" });
  });
});
