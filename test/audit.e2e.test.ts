/**
 * Issue "audit service": lineage after the A→B→C chain, tamper evidence, and
 * no loss and no duplicates while the audit service is SIGKILLed, nats-server
 * is killed and restarted, and the projection file is deleted and rebuilt.
 */
import { rmSync } from "node:fs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import type { AuditRecord__Output, LineageResponse__Output, QueryResponse__Output, VerifyResponse__Output } from "@sts/proto";
import { grpcHealthy, waitFor } from "@sts/testkit";
import { basicAuth, claimsOf, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, call, chainConfig, clients, exchange } from "./chain.js";

let stack: Stack;
let grpc: ReturnType<typeof clients>;

beforeAll(async () => {
  stack = await startStack(chainConfig);
  grpc = clients(stack.address);
}, 90_000);

// A test that restarts NATS leaves services reconnecting: the next one starts once every service is ready again.
beforeEach(() => stack.ready(), 30_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
});

async function at1(): Promise<string | undefined> {
  const r = await postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    { grant_type: "client_credentials", scope: "a b c" },
    { authorization: basicAuth("end-user-app", SECRET) },
  ).catch(() => undefined);
  return r?.status === 200 ? (r.body.access_token as string) : undefined;
}

async function tokenRecords(): Promise<AuditRecord__Output[]> {
  const out: AuditRecord__Output[] = [];
  let page = "";
  do {
    const r = await call<QueryResponse__Output>(grpc.audit, "Query", { filter: {}, page_size: 1000, page_token: page });
    if (!r.ok) throw new Error(r.failure.description);
    out.push(...r.value.records.filter((x) => x.type === "token.issued" || x.type === "token.exchanged"));
    page = r.value.next_page_token;
  } while (page);
  return out;
}

const jtiOf = (t: string): string => claimsOf(t).jti as string;

describe("lineage", () => {
  it("follows AT3 back to the client_credentials grant, and AT1 down to AT3", async () => {
    const t1 = (await at1()) as string;
    const t2 = await exchange(grpc.exchange, "svc-a", t1, { audience: ["svc-b"], scope: "b c" });
    const t3 = await exchange(grpc.exchange, "svc-b", t2.ok ? t2.value.access_token : "", { audience: ["svc-c"], scope: "c" });
    if (!t2.ok || !t3.ok) throw new Error("chain failed");
    const [j1, j2, j3] = [jtiOf(t1), jtiOf(t2.value.access_token), jtiOf(t3.value.access_token)];

    const up = await waitFor(async () => {
      const r = await call<LineageResponse__Output>(grpc.audit, "Lineage", { jti: j3 });
      return r.ok ? r.value : undefined;
    });
    expect(up.token?.jti).toBe(j3);
    expect(up.token?.actors).toEqual(["svc-b", "svc-a"]);
    expect(up.ancestors.map((a) => [a.jti, a.type])).toEqual([
      [j2, "token.exchanged"],
      [j1, "token.issued"],
    ]);
    expect(JSON.parse(up.ancestors[1]?.data_json ?? "{}")).toMatchObject({ grant_type: "client_credentials" });

    const down = await call<LineageResponse__Output>(grpc.audit, "Lineage", { jti: j1 });
    if (!down.ok) throw new Error(down.failure.description);
    expect(down.value.ancestors).toEqual([]);
    expect(down.value.descendants.map((d) => d.record?.jti)).toEqual([j2]);
    expect(down.value.descendants[0]?.children.map((d) => d.record?.jti)).toEqual([j3]);
  });
});

describe("no loss, no duplicates, under faults", () => {
  it("records every token the clients received, once, through audit SIGKILL, NATS restart and a deleted projection", async () => {
    const received: string[] = [];
    // Tokens of other tests in this file are recorded too: count only what this test adds.
    const baseline = new Set((await tokenRecords()).map((r) => r.jti));
    let running = true;
    // Steady load: an issuance and an exchange per round, from two loops.
    const loop = async (): Promise<void> => {
      while (running) {
        const t = await at1();
        if (t) {
          received.push(jtiOf(t));
          const x = await exchange(grpc.exchange, "svc-a", t, { audience: ["svc-b"], scope: "b" }).catch(() => undefined);
          if (x?.ok) received.push(jtiOf(x.value.access_token));
        } else await new Promise((r) => setTimeout(r, 50));
      }
    };
    const loops = [loop(), loop()];
    const until = (n: number) => waitFor(() => received.length >= n, { timeoutMs: 30_000 });

    await until(50);
    await stack.processes.audit?.kill("SIGKILL"); // (a)
    await until(received.length + 50);
    await stack.start("audit");

    await until(received.length + 50);
    await stack.nats.kill("SIGKILL"); // (b)
    await new Promise((r) => setTimeout(r, 500));
    await stack.nats.restart();
    await waitFor(async () => grpcHealthy(stack.address.issuer), { timeoutMs: 20_000 });
    await until(received.length + 50);

    await stack.processes.audit?.stop(); // (c)
    for (const f of [stack.auditDb, `${stack.auditDb}-wal`, `${stack.auditDb}-shm`]) rmSync(f, { force: true });
    await stack.start("audit");
    await until(received.length + 50);
    running = false;
    await Promise.all(loops);

    const records = await waitFor(
      async () => {
        const r = (await tokenRecords()).filter((x) => !baseline.has(x.jti));
        return r.length >= received.length ? r : undefined;
      },
      { timeoutMs: 30_000, message: "audit did not catch up" },
    );
    const recorded = records.map((r) => r.jti);
    expect(new Set(records.map((r) => r.event_id)).size).toBe(records.length);
    expect(new Set(recorded).size).toBe(recorded.length);
    expect(recorded.length).toBe(received.length);
    expect(new Set(recorded)).toEqual(new Set(received));
    const v = await call<VerifyResponse__Output>(grpc.audit, "Verify", {});
    expect(v.ok && v.value.ok).toBe(true);
  }, 180_000);
});

describe("tamper evidence", () => {
  it("fails Verify at the row edited by hand, and passes again once the row is restored", async () => {
    // A record of this test's own, so the edit does not depend on what other tests recorded.
    const t = await at1();
    expect(t).toBeDefined();
    const jti = jtiOf(t as string);
    const record = await waitFor(async () => (await tokenRecords()).find((r) => r.jti === jti), { message: "token not recorded" });
    const seq = Number(record.sequence);
    const before = await call<VerifyResponse__Output>(grpc.audit, "Verify", {});
    expect(before.ok && before.value.ok).toBe(true);
    const db = new Database(stack.auditDb);
    try {
      const original = db.prepare("SELECT scope FROM records WHERE sequence = ? AND jti = ?").get(seq, jti) as { scope: string } | undefined;
      expect(original?.scope).toBe("a b c");
      expect(db.prepare("UPDATE records SET scope = 'a b c d' WHERE sequence = ?").run(seq).changes).toBe(1);
      try {
        const after = await call<VerifyResponse__Output>(grpc.audit, "Verify", {});
        expect(after.ok && after.value).toMatchObject({ ok: false, first_bad_sequence: String(seq) });
      } finally {
        // Put the row back so the projection is clean for whatever runs next.
        db.prepare("UPDATE records SET scope = ? WHERE sequence = ?").run(original?.scope ?? "a b c", seq);
      }
    } finally {
      db.close();
    }
    const restored = await call<VerifyResponse__Output>(grpc.audit, "Verify", {});
    expect(restored.ok && restored.value.ok).toBe(true);
  });
});
