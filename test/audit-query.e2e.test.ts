/** Audit Query filters and paging, Tail resumption, and the stsctl command line, against real processes. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord__Output, QueryResponse__Output } from "@sts/proto";
import { waitFor } from "@sts/testkit";
import { basicAuth, claimsOf, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, call, chainConfig, clients, exchange } from "./chain.js";

const run = promisify(execFile);
let stack: Stack;
let grpc: ReturnType<typeof clients>;
let chain: { j1: string; j2: string; j3: string };

beforeAll(async () => {
  stack = await startStack(chainConfig);
  grpc = clients(stack.address);
  const t1 = (
    await postForm(
      `${stack.gatewayUrl}/oauth2/token`,
      { grant_type: "client_credentials", scope: "a b c" },
      { authorization: basicAuth("end-user-app", SECRET) },
    )
  ).body.access_token as string;
  const t2 = await exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "b c" });
  const t3 = await exchange(grpc.exchange, "svc-b", t2.ok ? t2.value.access_token : "", { audience: ["svc-c"], scope: "c" });
  if (!t2.ok || !t3.ok) throw new Error("chain failed");
  chain = { j1: claimsOf(t1).jti as string, j2: claimsOf(t2.value.access_token).jti as string, j3: claimsOf(t3.value.access_token).jti as string };
  await waitFor(async () => {
    const r = await call<QueryResponse__Output>(grpc.audit, "Query", { filter: { type: "token.exchanged" } });
    return r.ok && r.value.records.length >= 2;
  });
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
});

const query = async (filter: object, page_size = 100, page_token = ""): Promise<QueryResponse__Output> => {
  const r = await call<QueryResponse__Output>(grpc.audit, "Query", { filter, page_size, page_token });
  if (!r.ok) throw new Error(r.failure.description);
  return r.value;
};

describe("Query", () => {
  it("filters by client, audience, type and subject", async () => {
    expect((await query({ client_id: "svc-b" })).records.map((r) => r.jti)).toEqual([chain.j3]);
    expect((await query({ audience: "svc-b", type: "token.exchanged" })).records.map((r) => r.jti)).toEqual([chain.j2]);
    expect((await query({ sub: "end-user-app", type: "token.issued" })).records.map((r) => r.jti)).toEqual([chain.j1]);
  });

  it("filters by time range and pages", async () => {
    expect((await query({ since: "2999-01-01T00:00:00Z" })).records).toEqual([]);
    const all = (await query({ type: "token.exchanged" })).records;
    const first = await query({ type: "token.exchanged" }, 1);
    expect(first.records.map((r) => r.jti)).toEqual([all[0]?.jti]);
    const second = await query({ type: "token.exchanged" }, 1, first.next_page_token);
    expect(second.records.map((r) => r.jti)).toEqual([all[1]?.jti]);
    const bad = await call(grpc.audit, "Query", { filter: { since: "yesterday" } });
    expect(!bad.ok && bad.failure.error).toBe("invalid_request");
  });
});

describe("Tail", () => {
  it("resumes from a sequence and then follows new records", async () => {
    const records: AuditRecord__Output[] = [];
    const stream = grpc.audit.Tail({ filter: { type: "token.issued" }, after_sequence: "0" });
    stream.on("data", (r: AuditRecord__Output) => records.push(r));
    stream.on("error", () => undefined);
    const replay = grpc.audit.Tail({ filter: { type: "token.issued" }, after_sequence: "1" });
    const replayed: AuditRecord__Output[] = [];
    replay.on("data", (r: AuditRecord__Output) => replayed.push(r));
    replay.on("error", () => undefined);
    await new Promise((r) => setTimeout(r, 200));
    const t = (await postForm(`${stack.gatewayUrl}/oauth2/token`, { grant_type: "client_credentials" }, { authorization: basicAuth("end-user-app", SECRET) }))
      .body.access_token as string;
    const jti = claimsOf(t).jti as string;
    await waitFor(() => records.some((r) => r.jti === jti));
    expect(records.every((r) => r.type === "token.issued")).toBe(true);
    await waitFor(() => replayed.some((r) => r.jti === jti));
    expect(replayed.map((r) => r.jti)).toContain(chain.j1);
    stream.cancel();
    replay.cancel();
  });
});

describe("stsctl", () => {
  const stsctl = (...args: string[]) =>
    run(process.execPath, [join(process.cwd(), "services/audit/dist/stsctl.js"), "audit", ...args, "--addr", stack.address.audit]);

  it("prints lineage readably and as JSON", async () => {
    const { stdout, stderr } = await stsctl("lineage", chain.j3);
    const lines = stdout.split("\n");
    const at = (jti: string): number => lines.findIndex((l) => l.includes(`jti=${jti}`));
    expect(stderr, stdout).toBe("");
    expect(
      lines.find((l) => l.startsWith("=> #")),
      stdout,
    ).toContain(`jti=${chain.j3}`);
    expect(stdout, stdout).toContain(`act=svc-b<svc-a`);
    expect([at(chain.j1) < at(chain.j2), at(chain.j2) < at(chain.j3)], stdout).toEqual([true, true]);
    const json = JSON.parse((await stsctl("lineage", chain.j1, "--json")).stdout) as { descendants: Array<{ record: { jti: string } }> };
    expect(json.descendants[0]?.record.jti).toBe(chain.j2);
  });

  it("takes a jti that begins with '-' (base64url) as the jti, not as an option", async () => {
    const err = (await stsctl("lineage", "-XK5fVbenGc2-RHf1TTBRg").catch((e: unknown) => e)) as { code?: number; stderr?: string };
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/^stsctl: no token with this jti/);
  });

  it("verifies the chain and queries with filters", async () => {
    expect((await stsctl("verify")).stdout).toMatch(/^chain intact: \d+ records/);
    const lines = (await stsctl("query", "--client", "svc-a", "--json")).stdout.trim().split("\n");
    expect(lines.map((l) => (JSON.parse(l) as { jti: string }).jti)).toEqual([chain.j2]);
  });
});
