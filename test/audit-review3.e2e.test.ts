/**
 * Third review of the audit service against a real stack (nats-server, issuer and audit processes, stsctl as built):
 * what the projection records of events it did not expect (a type its subject does not name, data nested past what
 * SQLite's JSON parser takes, a lone UTF-16 surrogate), and answers too large for a gRPC client's default 4 MiB.
 * Each test publishes its events straight to the events stream, as a service with a NATS login could, and waits for a
 * marker published after them: the projection commits in stream order, so once the marker is recorded so is the rest.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_TYPES, EventPublisher, connectNats, eventSubject } from "@sts/nats";
import type { EventType, NatsHandle } from "@sts/nats";
import { freePort, waitFor } from "@sts/testkit";
import { ROOT, startStack } from "./harness.js";
import type { Stack } from "./harness.js";

const BREAK_GLASS = "break-glass-review3-0123456789abcdef";

let stack: Stack;
let nats: NatsHandle;
let events: EventPublisher;
/** The audit service's admin port, where its /metrics are. */
let auditAdmin: string;

beforeAll(async () => {
  const adminPort = await freePort();
  auditAdmin = `http://127.0.0.1:${adminPort}`;
  stack = await startStack({}, { services: ["issuer", "audit"], env: { STS_AUDIT_TOKEN: BREAK_GLASS, STS_AUDIT_ADMIN_PORT: String(adminPort) } });
  nats = await connectNats({ servers: stack.nats.url, name: "audit-review3" });
  events = new EventPublisher(nats, { source: "test" });
}, 90_000);

afterAll(async () => {
  await nats?.close();
  await stack?.stop();
});

/** `stsctl audit …` against the stack's audit API, as the break-glass auditor: exit code, stdout and stderr. */
const stsctl = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  promisify(execFile)(process.execPath, [join(ROOT, "services/audit/dist/stsctl.js"), "audit", ...args, "--addr", stack.address.audit], {
    cwd: ROOT,
    env: { ...process.env, STS_AUDIT_TOKEN: BREAK_GLASS, STS_AUDIT_ACCESS_TOKEN: "" },
    maxBuffer: 64 * 1024 * 1024,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

/** Publishes a CloudEvent as written by hand (its body's `type` need not be its subject's) and waits for JetStream's ack. */
async function publishRaw(subject: string, body: string): Promise<void> {
  await nats.js.publish(subject, body, { msgID: randomUUID() });
}

/** A CloudEvent body with `data` given as JSON text. */
const cloudEvent = (type: string, dataJson: string): string =>
  `{"specversion":"1.0","id":"${randomUUID()}","source":"test","type":"${type}","time":"${new Date().toISOString()}","datacontenttype":"application/json","data":${dataJson}}`;

/** Publishes an exchange.denied marker for `client` and waits until the projection holds it: everything published before is processed. */
async function markAndWait(client: string): Promise<void> {
  await events.publish(EVENT_TYPES.EXCHANGE_DENIED, { error: "invalid_target", client_id: client, audience: [] });
  await waitFor(
    async () => {
      const r = await stsctl("query", "--client", client, "--json");
      if (r.code !== 0) throw new Error(r.stderr);
      return r.stdout.trim() !== "";
    },
    { timeoutMs: 20_000, message: `the marker ${client} was never recorded (the projection stopped?)` },
  );
}

describe("the projection's event types", () => {
  it("records no token.issued from a message published on another type's subject (each service may publish only its own types)", async () => {
    // The exchanger's NATS user may publish only sts.events.exchange.denied (deploy/k8s/nats/permissions.conf).
    const jti = `forged-${randomUUID()}`;
    const data = JSON.stringify({ jti, sub: "alice", client_id: "svc-a", aud: ["svc-b"], scope: "admin" });
    await publishRaw(eventSubject(EVENT_TYPES.EXCHANGE_DENIED), cloudEvent(EVENT_TYPES.TOKEN_ISSUED, data));
    await markAndWait(`marker-${randomUUID()}`);
    const r = await stsctl("lineage", jti);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("no token with this jti is recorded");
    expect(r.code).toBe(1);
    // No record shows the gap, so the metric does.
    const metrics = await (await fetch(`${auditAdmin}/metrics`)).text();
    expect(metrics).toMatch(/^sts_audit_events_refused_total\{[^}]*sts_audit_refusal="subject_mismatch"[^}]*\} [1-9]/m);
  });
});

describe("the hash chain", () => {
  it("keeps the hash chain verifiable through a subject holding a lone UTF-16 surrogate (nothing was tampered with)", async () => {
    const client = `surrogate-${randomUUID()}`;
    // JSON carries it as the escape \ud800, which parses to a lone surrogate: SQLite writes it as U+FFFD.
    await events.publish(EVENT_TYPES.EXCHANGE_DENIED, { error: "invalid_target", client_id: client, sub: "alice\ud800", audience: [] });
    await markAndWait(`marker-${randomUUID()}`);
    const r = await stsctl("verify");
    expect(r.stdout).toMatch(/^chain intact: \d+ records\n$/);
    expect(r.code).toBe(0);
  });
});

describe("answers a gRPC client can receive (4 MiB by default)", () => {
  /** A refresh rotation's event, the size a real one has (audiences, scopes, policy ids and kids listed). */
  const rotation = (jti: string, parent: string | undefined, family: string): Record<string, unknown> => ({
    jti,
    ...(parent && { parent_jti: parent }),
    sub: "user-1234",
    client_id: "mobile-app",
    aud: ["https://api.example.com/orders", "https://api.example.com/payments", "https://api.example.com/profile"],
    scope: Array.from({ length: 24 }, (_, i) => `orders:scope-${i}`).join(" "),
    exp: 2_000_000_000,
    refresh_family: family,
    origin_iat: 1_700_000_000,
    origin_client_id: "mobile-app",
    policy_ids: Array.from({ length: 8 }, (_, i) => `policy-orders-${i}`),
    lineage_kids: Array.from({ length: 6 }, (_, i) => `kid-${i}-${"k".repeat(30)}`),
    id_token_jti: randomUUID(),
  });

  it("stsctl audit lineage prints the newest token of a refresh family 3,000 rotations long, saying older ancestors are left out", async () => {
    const family = randomUUID();
    const jtis = Array.from({ length: 3_000 }, () => randomUUID());
    for (const [i, jti] of jtis.entries()) {
      const type: EventType = i === 0 ? EVENT_TYPES.TOKEN_ISSUED : EVENT_TYPES.TOKEN_REFRESHED;
      await events.publish(type, rotation(jti, jtis[i - 1], family));
    }
    await markAndWait(`marker-${randomUUID()}`);
    const newest = jtis[jtis.length - 1] ?? "";
    const r = await stsctl("lineage", newest);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[1]).toMatch(/^ {3}… older ancestors left out: stsctl audit lineage /);
    expect(lines.find((l) => l.startsWith("=> "))).toContain(`jti=${newest}`);
    // Nearest first up to the cut: the ancestors shown are the newest ones, with none skipped.
    const shown = lines.filter((l) => l.startsWith("   #")).map((l) => /jti=(\S+)/.exec(l)?.[1]);
    expect(shown.length).toBeGreaterThan(100);
    expect(shown).toEqual(jtis.slice(-1 - shown.length, -1));
  });

  it("stsctl audit query --limit 1000 pages through denials each recording 16 audiences of 512 characters", async () => {
    // The most the exchanger records of one denied request's audiences (MAX_AUDIENCES, MAX_AUDIENCE_LENGTH).
    const client = `wide-${randomUUID()}`;
    const audience = Array.from({ length: 16 }, (_, i) => `https://${String(i).padStart(2, "0")}.example.com/${"a".repeat(480)}`);
    const count = 400;
    for (let i = 0; i < count; i++) await events.publish(EVENT_TYPES.EXCHANGE_DENIED, { error: "invalid_target", client_id: client, audience });
    await markAndWait(`marker-${randomUUID()}`);
    const r = await stsctl("query", "--client", client, "--limit", "1000", "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const sequences = r.stdout
      .trim()
      .split("\n")
      .map((line) => Number((JSON.parse(line) as { sequence: string }).sequence));
    expect(sequences.length).toBe(count);
    expect(new Set(sequences).size).toBe(count);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
  });
});

// Last: before the fix, such an event stopped the projection for good, and every test after it with it.
describe("the projection's event data", () => {
  it("goes on recording after an event whose data nests deeper than SQLite's JSON parser takes (1,000 levels), recording that event too", async () => {
    const client = `deep-${randomUUID()}`;
    const depth = 1_500;
    const data = `{"error":"invalid_target","client_id":"${client}","audience":[],"reason":${"[".repeat(depth)}${"]".repeat(depth)}}`;
    await publishRaw(eventSubject(EVENT_TYPES.EXCHANGE_DENIED), cloudEvent(EVENT_TYPES.EXCHANGE_DENIED, data));
    await markAndWait(`marker-${randomUUID()}`);
    const r = await stsctl("query", "--client", client, "--json");
    expect(r.code).toBe(0);
    const records = r.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { type: string; client_id: string });
    expect(records.map((x) => [x.type, x.client_id])).toEqual([[EVENT_TYPES.EXCHANGE_DENIED, client]]);
    expect((await stsctl("verify")).code).toBe(0);
  });
});
