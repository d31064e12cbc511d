/**
 * A Tail lasts only as long as the credential it was opened with: the audit
 * service checks it again while the stream is open, so a stream opened with
 * a short-lived token ends (UNAUTHENTICATED, invalid_token) once the token
 * expires, and one whose token is revoked (RFC 7009 at the gateway) ends
 * within a bounded time, while streams with a good credential, the
 * break-glass one included, keep following. Real nats-server, issuer,
 * gateway and audit processes, over gRPC.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import type { Metadata, ServiceError } from "@grpc/grpc-js";
import type { AuditRecord__Output } from "@sts/proto";
import { EVENT_TYPES } from "@sts/nats";
import { waitFor } from "@sts/testkit";
import { basicAuth, claimsOf, clientCredentialsToken, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, bearer, clients } from "./chain.js";

const BREAK_GLASS = "break-glass-tail-0123456789abcdef";
/** Long enough to open a Tail and see a record through it on a loaded machine, short enough to wait out. */
const SHORT_TTL = 8;
const config = {
  tokens: { clock_tolerance: 0 },
  clients: [
    { client_id: "auditor-brief", client_secret: SECRET, scope: ["audit:read"], audience: ["sts-audit"], access_token_ttl: SHORT_TTL },
    { client_id: "auditor-dana", client_secret: SECRET, scope: ["audit:read"], audience: ["sts-audit"] },
    // Its tokens are the records the Tails follow.
    { client_id: "workload", client_secret: SECRET, scope: ["x"], audience: ["svc-x"] },
  ],
};

let stack: Stack;
let grpc: ReturnType<typeof clients>;

beforeAll(async () => {
  stack = await startStack(config, { services: ["issuer", "gateway", "audit"], env: { STS_AUDIT_TOKEN: BREAK_GLASS } });
  grpc = clients(stack.address);
}, 90_000);

afterAll(async () => {
  grpc?.close();
  await stack?.stop();
});

/** How a Tail ended: its gRPC status, OAuth error and description, and when the test heard of it (ms since the epoch). */
interface TailEnd {
  code: number;
  error: string | undefined;
  details: string;
  at: number;
}

/** A Tail of the workload's token.issued records from now on, opened with `credential`. */
function tail(credential: string): { records: AuditRecord__Output[]; ended: Promise<TailEnd>; isOpen: () => boolean; cancel(): void } {
  const stream = grpc.audit.Tail({ filter: { client_id: "workload", type: EVENT_TYPES.TOKEN_ISSUED }, after_sequence: "0" }, bearer(credential));
  const records: AuditRecord__Output[] = [];
  let open = true;
  stream.on("data", (r: AuditRecord__Output) => records.push(r));
  const ended = new Promise<TailEnd>((resolve) => {
    stream.on("error", (err: ServiceError & { metadata?: Metadata }) => {
      open = false;
      const error = err.metadata?.get("oauth-error")[0];
      resolve({ code: err.code, error: typeof error === "string" ? error : undefined, details: err.details, at: Date.now() });
    });
    stream.on("end", () => {
      open = false;
      resolve({ code: status.OK, error: undefined, details: "", at: Date.now() });
    });
  });
  return { records, ended, isOpen: () => open, cancel: () => stream.cancel() };
}

/** Issues a workload token (a token.issued record) and returns its jti. */
async function newRecord(): Promise<string> {
  const token = await clientCredentialsToken(stack, "workload", SECRET, { audience: "svc-x", scope: "x" });
  return (claimsOf(token) as { jti: string }).jti;
}

/**
 * Issues workload tokens until every Tail of `tails` has delivered one. A Tail "from now" starts after the records
 * the projection holds once its call is answered, which the client does not see: one record is not enough.
 */
async function following(...tails: Array<ReturnType<typeof tail>>): Promise<void> {
  await waitFor(
    async () => {
      if (tails.every((t) => t.records.length > 0)) return true;
      await newRecord();
      return false;
    },
    { timeoutMs: 20_000, intervalMs: 300, message: "a Tail never delivered a new record" },
  );
}

/** Waits until every Tail of `tails` has delivered the record of token `jti`. */
async function delivered(jti: string, ...tails: Array<ReturnType<typeof tail>>): Promise<void> {
  await waitFor(() => tails.every((t) => t.records.some((r) => r.jti === jti)), { timeoutMs: 15_000, message: `the record of ${jti} was not delivered` });
}

/** Resolves with how the Tail ended, or fails after `timeoutMs` with `message`. */
function endOf(t: ReturnType<typeof tail>, timeoutMs: number, message: string): Promise<TailEnd> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), timeoutMs)));
  return Promise.race([t.ended, late]).finally(() => clearTimeout(timer));
}

describe("a Tail opened with an auditor's access token", () => {
  it("ends UNAUTHENTICATED (invalid_token) once the token expires, having followed new records until then", async () => {
    const token = await clientCredentialsToken(stack, "auditor-brief", SECRET, { audience: "sts-audit", scope: "audit:read" });
    const { exp } = claimsOf(token) as { exp: number };
    const t = tail(token);
    try {
      await following(t);
      const end = await endOf(t, (SHORT_TTL + 20) * 1000, "the Tail outlived its token");
      expect([end.code, end.error]).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
      expect(end.details).toMatch(/^the credential this Tail was opened with is no longer accepted \(.*expired.*\)/);
      // Not cut short: the service's clock (with clock_tolerance 0) reached exp first.
      expect(end.at).toBeGreaterThanOrEqual(exp * 1000);
    } finally {
      t.cancel();
    }
  }, 60_000);

  it("ends UNAUTHENTICATED (invalid_token) after the token is revoked at the gateway (RFC 7009); other Tails, break-glass too, go on", async () => {
    const token = await clientCredentialsToken(stack, "auditor-dana", SECRET, { audience: "sts-audit", scope: "audit:read" });
    const other = await clientCredentialsToken(stack, "auditor-dana", SECRET, { audience: "sts-audit", scope: "audit:read" });
    const revoked = tail(token);
    const kept = tail(other);
    const breakGlass = tail(BREAK_GLASS);
    try {
      await following(revoked, kept, breakGlass);
      // Past a few of the service's checks of the credentials: good ones keep their streams.
      await new Promise((r) => setTimeout(r, 2_500));
      await delivered(await newRecord(), revoked, kept, breakGlass);
      expect([revoked.isOpen(), kept.isOpen(), breakGlass.isOpen()]).toEqual([true, true, true]);

      const r = await postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token }, { authorization: basicAuth("auditor-dana", SECRET) });
      expect(r.status).toBe(200);
      const end = await endOf(revoked, 20_000, "the Tail outlived the revocation of its token");
      expect([end.code, end.error]).toEqual([status.UNAUTHENTICATED, "invalid_token"]);
      expect(end.details).toMatch(/^the credential this Tail was opened with is no longer accepted \(.*revoked.*\)/);

      const after = await newRecord();
      await delivered(after, kept, breakGlass);
      expect(revoked.records.some((x) => x.jti === after)).toBe(false);
      expect([kept.isOpen(), breakGlass.isOpen()]).toEqual([true, true]);
    } finally {
      for (const t of [revoked, kept, breakGlass]) t.cancel();
    }
  }, 90_000);
});
