/**
 * Deadline and cancellation propagation from an incoming call to the outgoing calls made for it, through real grpc-js
 * servers in process: a front server whose handlers call a back server, as the exchanger calls the policy service
 * (Decide, one call per exchange) and the issuer (MintBatch, many exchanges per call). The back server holds each call
 * until the test releases it or the call goes, and records the deadline it received (grpc-timeout).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { OAuthError } from "@sts/errors";
import { createLogger } from "@sts/telemetry";
import { waitFor } from "@sts/testkit";
import { answerBatch, coalescedCalls } from "./batch.js";
import type { BatchItem, BatchResult, CallCoalescer } from "./batch.js";
import { callUnary, createClient } from "./client.js";
import { startGrpcServer } from "./server.js";
import type { GrpcServerHandle } from "./server.js";
import { unary } from "./adapter.js";
import type { CallContext } from "./adapter.js";
import { jsonMethod } from "./json-method.fixture.js";

const logger = createLogger("test", { level: "silent" });
/** What the front server asks the back server with: far longer than any test, so only propagation can end a call sooner. */
const CONFIGURED_MS = 60_000;
/** Bound of every wait: a propagation that did not happen fails the test well before CONFIGURED_MS. */
const WAIT = { timeoutMs: 20_000, intervalMs: 10 };

/** One call the back server is holding. */
interface Held {
  request: unknown;
  deadline: number | undefined;
  ctx: CallContext;
  release(): void;
}

const back = { held: [] as Held[] };
/** LateBatch: the ids whose item handler ran, and the results answerBatch gave, by batch. */
const late = { entered: new Set<string>(), ran: [] as string[], results: new Map<string, Array<BatchResult<{ id: string }>>>() };
/** How each front handler's own outgoing call ended, by request id. */
const outcomes = new Map<string, { ok: true; value: unknown } | { ok: false; err: unknown }>();
/** Request ids whose front handler has started. */
const entered = new Set<string>();

const backDefinition = { Hold: jsonMethod("/t.Back/Hold"), HoldBatch: jsonMethod("/t.Back/HoldBatch"), LateBatch: jsonMethod("/t.Back/LateBatch") };
const frontDefinition = { Relay: jsonMethod("/t.Front/Relay"), RelayCtx: jsonMethod("/t.Front/RelayCtx"), Coalesced: jsonMethod("/t.Front/Coalesced") };
const BackClient = grpc.makeGenericClientConstructor(backDefinition, "Back");
const FrontClient = grpc.makeGenericClientConstructor(frontDefinition, "Front");

let backServer: GrpcServerHandle;
let frontServer: GrpcServerHandle;
let backClient: grpc.Client;
let frontClient: grpc.Client;
let coalescer: CallCoalescer<{ id: string }, { id: string }>;

/** Holds a call on the back server until released or gone; answers with what `answer` makes of the request. */
function hold<Res>(request: unknown, ctx: CallContext, answer: () => Res): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    const entry: Held = { request, deadline: ctx.deadline?.getTime(), ctx, release: () => resolve(answer()) };
    back.held.push(entry);
    ctx.signal.addEventListener("abort", () => reject(new OAuthError("temporarily_unavailable", "gone")), { once: true });
  });
}

/** Runs a front handler's outgoing call and records how it ended. */
async function relay(id: string, outgoing: () => Promise<unknown>): Promise<{ id: string }> {
  entered.add(id);
  try {
    const value = await outgoing();
    outcomes.set(id, { ok: true, value });
    return { id };
  } catch (err) {
    outcomes.set(id, { ok: false, err });
    throw err;
  }
}

beforeAll(async () => {
  backServer = await startGrpcServer({
    port: 0,
    logger,
    services: [
      {
        definition: backDefinition,
        implementation: {
          Hold: unary(async (req: { id: string }, ctx) => hold(req, ctx, () => ({ id: req.id })), { name: "Hold", logger }),
          HoldBatch: unary(
            async (req: { items: Array<BatchItem<{ id: string }>> }, ctx) =>
              hold(req, ctx, () => ({ results: req.items.map((i) => ({ response: { id: i.request.id } })) })),
            { name: "HoldBatch", logger },
          ),
          // Starts its items only once its own caller has gone, as a batch whose items wait on something slow would.
          LateBatch: unary(
            async (req: { items: Array<BatchItem<{ id: string }>> }, ctx) => {
              const key = req.items.map((i) => i.request.id).join(",");
              late.entered.add(key);
              await waitFor(() => ctx.cancelled, WAIT).catch(() => undefined);
              const results = await answerBatch(
                req.items,
                async (r: { id: string }) => {
                  late.ran.push(r.id);
                  return r;
                },
                { name: "LateBatch", logger },
              );
              late.results.set(key, results);
              return { results };
            },
            { name: "LateBatch", logger },
          ),
        },
      },
    ],
  });
  backClient = createClient(BackClient, backServer.address);
  frontServer = await startGrpcServer({
    port: 0,
    logger,
    services: [
      {
        definition: frontDefinition,
        implementation: {
          Relay: unary(
            async (req: { id: string }) => relay(req.id, () => callUnary(backClient, "Hold", req, { deadlineMs: CONFIGURED_MS, parent: "incoming" })),
            { name: "Relay", logger },
          ),
          RelayCtx: unary(
            async (req: { id: string }, ctx) => relay(req.id, () => callUnary(backClient, "Hold", req, { deadlineMs: CONFIGURED_MS, parent: ctx })),
            { name: "RelayCtx", logger },
          ),
          Coalesced: unary(async (req: { id: string }) => relay(req.id, () => coalescer.call(req, { parent: "incoming" })), { name: "Coalesced", logger }),
        },
      },
    ],
  });
  frontClient = createClient(FrontClient, frontServer.address);
});

beforeEach(() => {
  // A coalescer of its own for each test, so none finds calls another left queued. One batch in flight at a time, so
  // a test can hold calls in the queue behind it.
  coalescer = coalescedCalls<{ id: string }, { id: string }>({ client: backClient, method: "HoldBatch", deadlineMs: CONFIGURED_MS }, { maxInFlight: 1 });
});

afterEach(() => {
  // Whatever a failed test left held is let go, so the next one starts from an empty back server.
  for (const h of back.held.splice(0)) h.release();
});

afterAll(async () => {
  frontClient?.close();
  backClient?.close();
  await frontServer?.shutdown(0);
  await backServer?.shutdown(0);
});

/** Calls the front server as an outside caller would, with a deadline `deadlineMs` from now (none when undefined). */
function callFront(method: keyof typeof frontDefinition, id: string, deadlineMs?: number) {
  let call!: grpc.ClientUnaryCall;
  const answer = new Promise<{ code: grpc.status; id?: string }>((resolve) => {
    const fn = (frontClient as unknown as Record<string, (...a: unknown[]) => grpc.ClientUnaryCall>)[method] as (...a: unknown[]) => grpc.ClientUnaryCall;
    const options = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
    call = fn.call(frontClient, { id }, new grpc.Metadata(), options, (err: grpc.ServiceError | null, res?: { id: string }) =>
      resolve(err ? { code: err.code } : { code: grpc.status.OK, ...(res && { id: res.id }) }),
    );
  });
  return { answer, call, deadline: deadlineMs === undefined ? undefined : Date.now() + deadlineMs };
}

/** The back server's held call whose request is (or, for a batch, whose items are) `ids`. */
const heldFor = (ids: string[]): Promise<Held> =>
  waitFor(
    () =>
      back.held.find((h) => {
        const r = h.request as { id?: string; items?: Array<BatchItem<{ id: string }>> };
        return JSON.stringify(r.items ? r.items.map((i) => i.request.id) : [r.id]) === JSON.stringify(ids);
      }),
    { ...WAIT, message: `back server never held ${ids.join(",")}` },
  );

/** How the front handler's outgoing call for `id` ended, once it has. */
const outcomeOf = (id: string) => waitFor(() => outcomes.get(id), { ...WAIT, message: `the outgoing call for ${id} never ended` });

/** What a handler's outgoing call made for a caller that has gone rejects with. */
const GONE = { code: "temporarily_unavailable", description: "the call this one was made for ended (its caller cancelled, or its deadline passed)" };

describe("callUnary made for an incoming call", () => {
  it('ends by the incoming call\'s deadline, not its configured one, and is cancelled with it (parent: "incoming")', async () => {
    const front = callFront("Relay", "u1", 500);
    const held = await heldFor(["u1"]);
    // grpc-timeout carried the caller's remaining time down, not CONFIGURED_MS (allowing for transit and rounding).
    expect(held.deadline).toBeDefined();
    expect(held.deadline as number).toBeLessThanOrEqual((front.deadline as number) + 1_000);
    expect((await front.answer).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // The back server's call ends with the caller's: nobody works on for a caller that has left.
    await waitFor(() => held.ctx.cancelled, { ...WAIT, message: "the back server's call outlived its caller" });
    const outcome = await outcomeOf("u1");
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && (outcome.err as OAuthError).toJSON()).toEqual({ error: GONE.code, error_description: GONE.description });
  });

  it("is cancelled when the caller cancels a call without a deadline (parent: the handler's ctx)", async () => {
    const front = callFront("RelayCtx", "u2");
    const held = await heldFor(["u2"]);
    expect(held.deadline as number).toBeGreaterThan(Date.now() + CONFIGURED_MS / 2);
    front.call.cancel();
    expect((await front.answer).code).toBe(grpc.status.CANCELLED);
    await waitFor(() => held.ctx.cancelled, { ...WAIT, message: "the back server's call outlived its cancelled caller" });
    expect(await outcomeOf("u2")).toMatchObject({ ok: false, err: GONE });
  });

  it("is not sent for a caller already gone", async () => {
    const gone = { deadline: new Date(Date.now() - 1), cancelled: true, onGone: () => () => undefined };
    const outcome = callUnary(backClient, "Hold", { id: "never" }, { deadlineMs: CONFIGURED_MS, parent: gone }).then(
      () => "answered",
      (err: unknown) => err,
    );
    // Refused before anything is sent: settled within this turn, while a call that went out would still be pending.
    const pending = new Promise((r) => setImmediate(() => r("still pending")));
    expect(await Promise.race([outcome, pending])).toMatchObject(GONE);
    expect(back.held).toEqual([]);
  });
});

describe("a coalesced call made for an incoming call", () => {
  it("is answered at once and never sent when its caller's deadline passes while it waits for its batch", async () => {
    const blocker = callFront("Coalesced", "q0", 30_000);
    const first = await heldFor(["q0"]);
    const short = callFront("Coalesced", "q1", 500);
    const long = callFront("Coalesced", "q2", 30_000);
    await waitFor(() => entered.has("q1") && entered.has("q2"), WAIT);
    expect((await short.answer).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // Answered while the batch before it still holds the only slot: not when a slot frees.
    expect(await outcomeOf("q1")).toMatchObject({ ok: false, err: GONE });
    first.release();
    expect(await blocker.answer).toEqual({ code: grpc.status.OK, id: "q0" });
    // The next batch carries only the call whose caller still waits.
    const next = await heldFor(["q2"]);
    next.release();
    expect(await long.answer).toEqual({ code: grpc.status.OK, id: "q2" });
  });

  it("does not cut its batch short for the others: the batch ends by the latest caller's deadline, and a short one is answered alone", async () => {
    const blocker = callFront("Coalesced", "b0", 30_000);
    const first = await heldFor(["b0"]);
    const short = callFront("Coalesced", "b1", 3_000);
    const long = callFront("Coalesced", "b2", 30_000);
    await waitFor(() => entered.has("b1") && entered.has("b2"), WAIT);
    first.release();
    expect((await blocker.answer).code).toBe(grpc.status.OK);
    const batch = await heldFor(["b1", "b2"]);
    // The batch's deadline is the long caller's, not the short one's, and not the configured one either.
    expect(batch.deadline as number).toBeGreaterThan((short.deadline as number) + 5_000);
    expect(batch.deadline as number).toBeLessThanOrEqual((long.deadline as number) + 1_000);
    expect((await short.answer).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // The short caller's handler is answered at once, while the batch is still held, and the batch goes on.
    expect(await outcomeOf("b1")).toMatchObject({ ok: false, err: GONE });
    expect(batch.ctx.cancelled).toBe(false);
    batch.release();
    expect(await long.answer).toEqual({ code: grpc.status.OK, id: "b2" });
  });

  it("cancels its batch once every caller in it has gone", async () => {
    const lone = callFront("Coalesced", "c1");
    const batch = await heldFor(["c1"]);
    lone.call.cancel();
    expect((await lone.answer).code).toBe(grpc.status.CANCELLED);
    await waitFor(() => batch.ctx.cancelled, { ...WAIT, message: "the batch outlived its only caller" });
    expect(await outcomeOf("c1")).toMatchObject({ ok: false, err: GONE });
  });
});

describe("answerBatch in a batch call that has gone", () => {
  it("runs none of its items: whoever sent them has stopped waiting (they would be signed and recorded for nobody)", async () => {
    const gone = new Promise<grpc.status>((resolve) => {
      const call = backClient.makeUnaryRequest(
        "/t.Back/LateBatch",
        (o: unknown) => Buffer.from(JSON.stringify(o)),
        (b: Buffer) => JSON.parse(b.toString()) as unknown,
        { items: [{ request: { id: "l1" }, trace_context: {} }] },
        (err) => resolve(err?.code ?? grpc.status.OK),
      );
      void waitFor(() => late.entered.has("l1"), WAIT).then(() => call.cancel());
    });
    expect(await gone).toBe(grpc.status.CANCELLED);
    const results = await waitFor(() => late.results.get("l1"), { ...WAIT, message: "the batch handler never answered" });
    expect(late.ran).toEqual([]);
    expect(results).toEqual([
      {
        error: {
          code: "temporarily_unavailable",
          description: "the batch call ended (its caller cancelled, or its deadline passed) before this item was started",
          retry_after: 1,
        },
      },
    ]);
  });
});
