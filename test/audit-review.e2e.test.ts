/**
 * Review of the audit service's command line against a real stack (nats-server, issuer and audit processes, stsctl
 * as built): what stsctl prints of a record is text, never terminal control, and a credential it cannot send is
 * refused without being printed.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_TYPES, EventPublisher, connectNats } from "@sts/nats";
import { waitFor } from "@sts/testkit";
import { ROOT, startStack } from "./harness.js";
import type { Stack } from "./harness.js";

const BREAK_GLASS = "break-glass-review-0123456789abcdef";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({}, { services: ["issuer", "audit"], env: { STS_AUDIT_TOKEN: BREAK_GLASS } });
}, 90_000);

afterAll(async () => {
  await stack?.stop();
});

/** `stsctl audit …` against the stack's audit API: exit code, stdout and stderr. */
const stsctl = (env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  promisify(execFile)(process.execPath, [join(ROOT, "services/audit/dist/stsctl.js"), "audit", ...args, "--addr", stack.address.audit], {
    cwd: ROOT,
    env: { ...process.env, STS_AUDIT_TOKEN: "", STS_AUDIT_ACCESS_TOKEN: "", ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe("stsctl audit query", () => {
  it("prints a record whose subject holds escape sequences and a line break as one line of text, the controls escaped", async () => {
    // A trusted provider's `sub` reaches the trail as the provider wrote it: published here straight to the stream.
    const client = `review-${randomUUID()}`;
    const nats = await connectNats({ servers: stack.nats.url, name: "audit-review" });
    try {
      const forged = `\u001b]0;owned\u0007\u001b[2J\n#1 2026-01-01T00:00:00.000Z token.revoked     sub=alice`;
      await new EventPublisher(nats, { source: "test" }).publish(EVENT_TYPES.EXCHANGE_DENIED, {
        error: "invalid_target",
        client_id: client,
        sub: forged,
        audience: [],
      });
    } finally {
      await nats.close();
    }
    const printed = await waitFor(
      async () => {
        const r = await stsctl({ STS_AUDIT_TOKEN: BREAK_GLASS }, "query", "--client", client);
        if (r.code !== 0) throw new Error(r.stderr);
        return r.stdout || undefined;
      },
      { message: "the record never came" },
    );
    expect(printed.split("\n")).toEqual([expect.stringContaining(`sub=\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{a}#1 `), ""]);
    expect(printed).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  });
});

describe("stsctl's credential", () => {
  it("is refused, named by its variable and never printed, when it holds a line break a gRPC header cannot carry", async () => {
    // A Kubernetes Secret made with `echo secret | base64` ends in a line break, which the variable keeps.
    const r = await stsctl({ STS_AUDIT_TOKEN: `${BREAK_GLASS}\n` }, "verify");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("STS_AUDIT_TOKEN");
    expect(r.stderr).not.toContain(BREAK_GLASS);
  });
});
