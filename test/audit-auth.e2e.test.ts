/**
 * The break-glass credential: with STS_AUDIT_TOKEN set, every audit call must
 * present it or an auditor's access token (test/audit-access.e2e.test.ts),
 * through the API and through stsctl. Without it, a call with no credential is
 * refused unless `audit.allow_anonymous` is on. Real processes.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Metadata } from "@grpc/grpc-js";
import { credentials } from "@grpc/grpc-js";
import { EVENTS_STREAM, connectNats } from "@sts/nats";
import { loadAuditProto } from "@sts/proto";
import type { AuditServiceClient } from "@sts/proto";
import { ROOT, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { bearer, call } from "./chain.js";

const AUDIT_TOKEN = "auditor-token-0123456789abcdef";
let stack: Stack;
let audit: AuditServiceClient;

beforeAll(async () => {
  // The default (the harness turns anonymous reads on for the other tests, as the local stack does).
  stack = await startStack(
    { audit: { allow_anonymous: false, stream_max_age: "90d", stream_max_bytes: 1 << 30 } },
    { services: ["issuer", "audit"], env: { STS_AUDIT_TOKEN: AUDIT_TOKEN } },
  );
  audit = new (loadAuditProto().sts.audit.v1.AuditService)(stack.address.audit, credentials.createInsecure());
}, 90_000);

afterAll(async () => {
  audit?.close();
  await stack?.stop();
});

describe("the audit API with a break-glass credential", () => {
  it.each([
    ["Query", { page_size: 1 }],
    ["Verify", {}],
    ["Lineage", { jti: "no-such-token" }],
  ] as const)("refuses %s without it or with another, and answers with it", async (method, request) => {
    for (const token of [undefined, "not-the-token"]) {
      const r = await call(audit, method, request, bearer(token));
      expect(r.ok ? "answered" : r.failure.error, `${method} with ${token ?? "nothing"}`).toBe("invalid_token");
    }
    const r = await call(audit, method, request, bearer(AUDIT_TOKEN));
    // Lineage of an unknown jti is a well-formed refusal; what matters is that it is not invalid_token.
    expect(r.ok || r.failure.error).toBe(method === "Lineage" ? "not_found" : true);
  });

  it("refuses Tail without it", async () => {
    const error = await new Promise<string | undefined>((resolve) => {
      const stream = audit.Tail({ after_sequence: "0" }, bearer(undefined));
      stream.on("error", (err: { metadata?: Metadata }) => resolve(err.metadata?.get("oauth-error")[0] as string | undefined));
      stream.on("data", () => resolve("data"));
    });
    expect(error).toBe("invalid_token");
  });

  it("lets stsctl through with STS_AUDIT_TOKEN, and not without", async () => {
    const stsctl = (env: Record<string, string>) =>
      promisify(execFile)(process.execPath, [join(ROOT, "services/audit/dist/stsctl.js"), "audit", "verify", "--addr", stack.address.audit], {
        cwd: ROOT,
        env: { ...process.env, STS_AUDIT_TOKEN: "", STS_AUDIT_ACCESS_TOKEN: "", ...env },
      }).then(
        () => 0,
        (e: { code: number }) => e.code,
      );
    expect(await stsctl({ STS_AUDIT_TOKEN: AUDIT_TOKEN })).toBe(0);
    expect(await stsctl({})).toBe(1);
  });
});

describe("the audit API without a break-glass credential", () => {
  it("refuses a call with no credential by default: an unset secret never opens the trail", async () => {
    const replica = await stack.startReplica("audit", { STS_AUDIT_TOKEN: "" });
    const client = new (loadAuditProto().sts.audit.v1.AuditService)(replica.address, credentials.createInsecure());
    try {
      for (const [method, request] of [
        ["Query", { page_size: 1 }],
        ["Lineage", { jti: "no-such-token" }],
      ] as const) {
        const r = await call(client, method, request, bearer(undefined));
        expect(r.ok ? "answered" : r.failure.error, method).toBe("invalid_token");
      }
    } finally {
      client.close();
      await replica.handle.stop();
    }
  }, 60_000);
});

describe("the events stream", () => {
  it("is kept as the config file says, and a change made around it is put back at the issuer's next start", async () => {
    const nats = await connectNats({ servers: stack.nats.url, name: "audit-auth-test" });
    try {
      const retention = async () => {
        const { config } = await nats.jsm.streams.info(EVENTS_STREAM.name);
        return [config.max_age / 1e9, config.max_bytes];
      };
      expect(await retention()).toEqual([90 * 86_400, 1 << 30]);
      await nats.jsm.streams.update(EVENTS_STREAM.name, { max_age: 0, max_bytes: -1 });
      await stack.processes.issuer?.stop();
      await stack.start("issuer");
      expect(await retention()).toEqual([90 * 86_400, 1 << 30]);
    } finally {
      await nats.close();
    }
  }, 60_000);
});
