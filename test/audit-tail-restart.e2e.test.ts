/**
 * `stsctl audit tail` across a restart of the audit service: the service's stop ends the Tail as "open it again"
 * (UNAVAILABLE) instead of holding its drain and cutting it as CANCELLED (which stsctl took for its own end and exited
 * 0), and stsctl opens it again after where the service said it started, so a record made while the service was down
 * is printed, not skipped. Real nats-server, issuer, gateway and audit processes; stsctl as a child process.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentials } from "@grpc/grpc-js";
import { loadAuditProto } from "@sts/proto";
import type { QueryResponse__Output } from "@sts/proto";
import { waitFor } from "@sts/testkit";
import { ROOT, claimsOf, clientCredentialsToken, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, call } from "./chain.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack(
    { audit: { allow_anonymous: true }, clients: [{ client_id: "workload", client_secret: SECRET, scope: ["x"], audience: ["svc-x"] }] },
    { services: ["issuer", "gateway", "audit"] },
  );
  // A trail that holds records (the reads' own): a Tail from now on an empty one starts "after 0", which a Tail request
  // cannot ask for again (0 means "new records only"); see the README.
  const audit = new (loadAuditProto().sts.audit.v1.AuditService)(stack.address.audit, credentials.createInsecure());
  try {
    await waitFor(async () => {
      const r = await call<QueryResponse__Output>(audit, "Query", { filter: {} });
      return r.ok && r.value.records.length > 0;
    });
  } finally {
    audit.close();
  }
}, 90_000);

afterAll(async () => {
  await stack?.stop();
});

/** Issues a workload token (a token.issued record) and returns its jti. */
async function newRecord(): Promise<string> {
  const token = await clientCredentialsToken(stack, "workload", SECRET, { audience: "svc-x", scope: "x" });
  return claimsOf(token).jti as string;
}

describe("stsctl audit tail across a restart of the audit service", () => {
  it("goes on, printing the record made while the service was down, though it had printed nothing before", async () => {
    const child = spawn(
      process.execPath,
      [join(ROOT, "services/audit/dist/stsctl.js"), "audit", "tail", "--client", "workload", "--type", "token.issued", "--addr", stack.address.audit],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let [stdout, stderr] = ["", ""];
    let exited: number | string | null | undefined;
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exit = new Promise<void>((resolve) => child.on("exit", (code, signal) => ((exited = code ?? signal), resolve())));
    const running = (): boolean => exited === undefined;
    try {
      await waitFor(() => stderr.includes("following records after #") || !running(), { timeoutMs: 20_000, message: "the Tail never opened" });
      expect(running()).toBe(true);
      const audit = stack.processes.audit;
      if (!audit) throw new Error("no audit process");
      await audit.stop();
      const whileDown = await newRecord();
      await audit.restart();
      await waitFor(() => stdout.includes(`jti=${whileDown}`) || !running(), {
        timeoutMs: 30_000,
        message: "the record made while the service was down was not printed",
      });
      expect({ exited, printed: stdout.includes(`jti=${whileDown}`) }).toEqual({ exited: undefined, printed: true });
      const after = await newRecord();
      await waitFor(() => stdout.includes(`jti=${after}`), { timeoutMs: 20_000, message: "the Tail opened again does not follow new records" });
      expect(stdout.trim().split("\n")).toHaveLength(2);
      child.kill("SIGINT");
      await exit;
      expect(exited).toBe(0);
    } finally {
      if (running()) child.kill("SIGKILL");
    }
  }, 120_000);
});
