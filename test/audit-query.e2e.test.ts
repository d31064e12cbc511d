/** Audit Query filters and paging, Tail resumption, and the stsctl command line, against real processes. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord__Output, QueryResponse__Output } from "@sts/proto";
import { waitFor } from "@sts/testkit";
import { ROOT, basicAuth, claimsOf, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, call, chainConfig, chainStartToken, clients, exchange } from "./chain.js";

const run = promisify(execFile);
let stack: Stack;
let grpc: ReturnType<typeof clients>;
let chain: { j1: string; j2: string; j3: string };

beforeAll(async () => {
  stack = await startStack(chainConfig);
  grpc = clients(stack.address);
  const t1 = await chainStartToken(stack.gatewayUrl);
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

/** A Tail stream collecting its records; waits on it fail at once if the stream errors or ends. */
function tail(request: object): {
  records: AuditRecord__Output[];
  until(cond: (records: AuditRecord__Output[]) => boolean, message: string): Promise<void>;
  cancel(): void;
} {
  const records: AuditRecord__Output[] = [];
  const stream = grpc.audit.Tail(request);
  let cancelled = false;
  const failed = new Promise<never>((_, reject) => {
    stream.on("error", (err: Error) => !cancelled && reject(err));
    stream.on("end", () => !cancelled && reject(new Error("Tail stream ended")));
  });
  failed.catch(() => undefined);
  stream.on("data", (r: AuditRecord__Output) => records.push(r));
  return {
    records,
    until: async (cond, message) => {
      await Promise.race([waitFor(() => cond(records), { message }), failed]);
    },
    cancel: () => {
      cancelled = true;
      stream.cancel();
    },
  };
}

describe("Tail", () => {
  it("resumes after a given sequence and then follows new records", async () => {
    const j1Record = (await query({ sub: "end-user-app", type: "token.issued" })).records.find((r) => r.jti === chain.j1);
    expect(j1Record).toBeDefined();
    const j1Seq = Number(j1Record?.sequence);
    // New records only, issued tokens only.
    const live = tail({ filter: { type: "token.issued" }, after_sequence: "0" });
    // Everything after AT1's own record: the two exchanges, never AT1 itself.
    const replay = tail({ filter: {}, after_sequence: String(j1Seq) });
    try {
      await replay.until((rs) => [chain.j2, chain.j3].every((j) => rs.some((r) => r.jti === j)), "replay did not deliver the exchanges after AT1");
      expect(replay.records.map((r) => r.jti)).not.toContain(chain.j1);
      expect(replay.records.every((r) => Number(r.sequence) > j1Seq)).toBe(true);
      // Its own client, so the Query tests' end-user-app records stay as the chain made them.
      const t = (await postForm(`${stack.gatewayUrl}/oauth2/token`, { grant_type: "client_credentials" }, { authorization: basicAuth("short-lived", SECRET) }))
        .body.access_token as string;
      const jti = claimsOf(t).jti as string;
      await live.until((rs) => rs.some((r) => r.jti === jti), "live Tail did not deliver the new token");
      await replay.until((rs) => rs.some((r) => r.jti === jti), "replay Tail did not follow with the new token");
      expect(live.records.every((r) => r.type === "token.issued")).toBe(true);
      expect(live.records.map((r) => r.jti)).not.toContain(chain.j1);
      const seqs = replay.records.map((r) => Number(r.sequence));
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
    } finally {
      live.cancel();
      replay.cancel();
    }
  });
});

describe("stsctl", () => {
  const stsctl = (...args: string[]) =>
    run(process.execPath, [join(ROOT, "services/audit/dist/stsctl.js"), "audit", ...args, "--addr", stack.address.audit], { cwd: ROOT });

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
