import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { OAuthError, unavailable } from "@sts/errors";
import { EVENT_TYPES } from "@sts/nats";
import { accessRecorder, accessedData, recordedValue } from "./access-record.js";
import type { Auditor } from "./authenticate-auditor.js";

const alice: Auditor = { credential: "access_token", sub: "alice", client_id: "auditor-alice", jti: "j-alice" };
/** Shaped as a compact JWS: a base64url JSON header, a payload, a signature. */
const TOKEN = `${Buffer.from('{"alg":"ES256","typ":"at+jwt"}').toString("base64url")}.${Buffer.from('{"sub":"bob"}').toString("base64url")}.c2lnbmF0dXJl`;

describe("accessedData", () => {
  it("names the auditor and what the call asked for, leaving out what it did not", () => {
    expect(accessedData("Query", alice, "ipv4:10.0.0.7:5123", { sub: "bob", type: "token.issued", since: "", limit: 100, after_sequence: 0 })).toEqual({
      rpc: "Query",
      credential: "access_token",
      sub: "alice",
      client_id: "auditor-alice",
      jti: "j-alice",
      peer: "ipv4:10.0.0.7:5123",
      filter: { sub: "bob", type: "token.issued", limit: 100, after_sequence: 0 },
    });
  });

  it("never holds a token, not even one pasted into a filter, and bounds every value", () => {
    const data = accessedData("Query", alice, "peer", { sub: TOKEN, client_id: `x ${TOKEN} y`, audience: "a".repeat(10_000) });
    const json = JSON.stringify(data);
    expect(json).not.toContain(TOKEN.split(".")[1]);
    expect(data.filter.sub).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/);
    // The same token gives the same digest: reads of one token stay comparable.
    expect(data.filter.client_id).toBe(recordedValue(`x ${TOKEN} y`));
    expect(data.filter.audience).toBe(`${"a".repeat(128)}...`);
    expect(json.length).toBeLessThan(1_000);
  });

  it("never holds the stack's opaque, refresh or registration tokens, nor a secret pasted into a filter", () => {
    // As the issuer makes them (opaque-tokens.ts, refresh-tokens.ts, client-management.ts) and a client secret.
    const random = (bytes: number): string => randomBytes(bytes).toString("base64url");
    const opaque = `sto_${random(32)}`;
    const refresh = `str_${random(32)}`;
    const registration = `rat_${random(32)}`;
    const secret = random(24);
    const hexKey = randomBytes(32).toString("hex");
    const data = accessedData("Lineage", alice, "peer", { jti: opaque, sub: refresh, client_id: `bearer ${registration}`, audience: secret, type: hexKey });
    const json = JSON.stringify(data);
    for (const value of [opaque, refresh, registration, secret, hexKey]) {
      expect(json).not.toContain(value.slice(4, 24));
      expect(recordedValue(value)).toBe(`sha256:${createHash("sha256").update(value).digest("base64url")}`);
    }
    expect(Object.values(data.filter).every((v) => typeof v === "string" && v.startsWith("sha256:"))).toBe(true);
  });

  it("keeps ordinary ids as they are, dots and all", () => {
    for (const v of [
      "svc.a.b",
      "admin:test/vo_1",
      "-XK5fVbenGc2-RHf1TTBRg",
      "2026-01-01T00:00:00Z",
      "123e4567-e89b-12d3-a456-426614174000",
      "payments-ledger-reconciliation-worker-eu-west-1",
      "https://api.example.com/Accounts/Transactions/v2",
      "str_utils",
    ])
      expect(recordedValue(v)).toBe(v);
  });
});

describe("accessRecorder", () => {
  it("publishes audit.accessed and resolves only once the publisher has", async () => {
    const published: Array<{ type: string; data: unknown }> = [];
    const record = accessRecorder({
      publish: async (type, data) => {
        published.push({ type, data });
        return { id: "e1", seq: 1, duplicate: false };
      },
    });
    await record("Lineage", alice, "peer", { jti: "j-x" });
    expect(published).toEqual([{ type: EVENT_TYPES.AUDIT_ACCESSED, data: expect.objectContaining({ rpc: "Lineage", sub: "alice", filter: { jti: "j-x" } }) }]);
  });

  it("fails with temporarily_unavailable when the event is not stored (the call then reads nothing)", async () => {
    const record = accessRecorder({
      publish: async () => {
        throw unavailable("event store unavailable");
      },
    });
    const err = await record("Verify", alice, "peer", {}).catch((e: unknown) => e);
    expect(err instanceof OAuthError && err.code).toBe("temporarily_unavailable");
  });
});
