import { describe, expect, it } from "vitest";
import { OAuthError, invalidScope } from "@sts/errors";
import { CallCoalescer, MAX_BATCH_ITEMS, answerBatch } from "./batch.js";
import type { BatchItem, BatchResult } from "./batch.js";

/** A send function that records each batch and answers it when told to. */
function recorder<Req>() {
  const batches: Array<{ items: Array<BatchItem<Req>>; answer: (r: Array<BatchResult<string>>) => void; fail: (e: unknown) => void }> = [];
  const send = (items: Array<BatchItem<Req>>) =>
    new Promise<Array<BatchResult<string>>>((answer, fail) => {
      batches.push({ items, answer, fail });
    });
  return { batches, send };
}

const turn = () => new Promise((r) => setImmediate(r));

describe("CallCoalescer", () => {
  it("sends the calls of one turn as one batch and gives each caller its own outcome", async () => {
    const { batches, send } = recorder<number>();
    const c = new CallCoalescer<number, string>(send);
    const calls = [1, 2, 3].map((n) => c.call(n));
    await turn();
    expect(batches).toHaveLength(1);
    expect(batches[0]?.items.map((i) => i.request)).toEqual([1, 2, 3]);
    batches[0]?.answer([{ response: "one" }, { error: { code: "invalid_scope", description: "no", retry_after: 0 } }, { response: "three" }]);
    const [a, b, cc] = await Promise.allSettled(calls);
    expect(a).toEqual({ status: "fulfilled", value: "one" });
    expect(cc).toEqual({ status: "fulfilled", value: "three" });
    expect(b?.status === "rejected" && b.reason instanceof OAuthError && b.reason.code).toBe("invalid_scope");
  });

  it("holds new calls while every slot is busy, then sends them together", async () => {
    const { batches, send } = recorder<number>();
    const c = new CallCoalescer<number, string>(send, { maxInFlight: 1 });
    const first = c.call(0);
    await turn();
    const later = [1, 2].map((n) => c.call(n));
    await turn();
    await turn();
    expect(batches).toHaveLength(1);
    batches[0]?.answer([{ response: "0" }]);
    await first;
    await turn();
    expect(batches).toHaveLength(2);
    expect(batches[1]?.items.map((i) => i.request)).toEqual([1, 2]);
    batches[1]?.answer([{ response: "1" }, { response: "2" }]);
    expect(await Promise.all(later)).toEqual(["1", "2"]);
  });

  it("refuses a call at once (temporarily_unavailable) while maxQueued calls wait behind busy slots, and takes calls again once they leave", async () => {
    const { batches, send } = recorder<number>();
    const c = new CallCoalescer<number, string>(send, { maxInFlight: 1, maxQueued: 2 });
    const first = c.call(0);
    await turn();
    const waiting = [1, 2].map((n) => c.call(n));
    const refused = await c.call(3).then(
      () => "answered",
      (err: unknown) => (err instanceof OAuthError ? err.code : String(err)),
    );
    expect(refused).toBe("temporarily_unavailable");
    expect(batches).toHaveLength(1);
    batches[0]?.answer([{ response: "0" }]);
    await first;
    await turn();
    expect(batches[1]?.items.map((i) => i.request)).toEqual([1, 2]);
    const taken = c.call(4);
    batches[1]?.answer([{ response: "1" }, { response: "2" }]);
    expect(await Promise.all(waiting)).toEqual(["1", "2"]);
    await turn();
    batches[2]?.answer([{ response: "4" }]);
    expect(await taken).toBe("4");
  });

  it("splits a burst larger than maxBatch", async () => {
    const { batches, send } = recorder<number>();
    const c = new CallCoalescer<number, string>(send, { maxBatch: 2, maxInFlight: 4 });
    void Promise.allSettled([1, 2, 3, 4, 5].map((n) => c.call(n)));
    await turn();
    expect(batches.map((b) => b.items.length)).toEqual([2, 2, 1]);
  });

  it("keeps a batch within its byte budget, sending an oversized call alone", async () => {
    const { batches, send } = recorder<string>();
    const c = new CallCoalescer<string, string>(send, { maxBatch: 64, maxInFlight: 8, maxBytes: 1000, sizeOf: (r) => (r as string).length });
    void Promise.allSettled(["a".repeat(400), "b".repeat(400), "c".repeat(400), "d".repeat(5000), "e".repeat(10)].map((r) => c.call(r)));
    await turn();
    expect(batches.map((b) => b.items.map((i) => i.request[0]).join(""))).toEqual(["ab", "c", "d", "e"]);
  });

  it("counts the budget in UTF-8 bytes, so multi-byte requests cannot overfill a batch", async () => {
    const { batches, send } = recorder<{ scope: string }>();
    const c = new CallCoalescer<{ scope: string }, string>(send, { maxInFlight: 64, maxBytes: 48 * 1024 });
    // 5,000 CJK characters: 5 K UTF-16 units, 15 KB of UTF-8.
    void Promise.allSettled(Array.from({ length: 12 }, () => c.call({ scope: "読".repeat(5000) })));
    await turn();
    for (const b of batches) expect(b.items.reduce((n, i) => n + Buffer.byteLength(JSON.stringify(i), "utf8"), 0)).toBeLessThanOrEqual(48 * 1024);
    expect(batches.map((b) => b.items.length)).toEqual([3, 3, 3, 3]);
  });

  it.each([
    ["keeps a transport failure as it is", new OAuthError("temporarily_unavailable", "issuer down"), 2, "temporarily_unavailable"],
    ["makes a batch refused as a whole a 5xx, never its callers' own fault", new OAuthError("invalid_request", "request too large"), 2, "server_error"],
    ["keeps the error of a batch of one: it is that request's own call", new OAuthError("invalid_request", "request too large"), 1, "invalid_request"],
  ])("fails every caller of a failed batch call: %s", async (_name, err, size, code) => {
    const { batches, send } = recorder<number>();
    const c = new CallCoalescer<number, string>(send, { maxInFlight: 4 });
    const calls = Array.from({ length: size }, (_, n) => c.call(n));
    await turn();
    batches[0]?.fail(err);
    expect((await Promise.allSettled(calls)).map((r) => r.status === "rejected" && (r.reason as OAuthError).code)).toEqual(calls.map(() => code));
  });

  it("fails every caller when a batch answers the wrong number of results", async () => {
    const { batches, send } = recorder<number>();
    const c = new CallCoalescer<number, string>(send, { maxInFlight: 4 });
    const short = [3, 4].map((n) => c.call(n));
    await turn();
    batches[0]?.answer([{ response: "3" }]);
    for (const r of await Promise.allSettled(short)) expect(r.status === "rejected" && (r.reason as OAuthError).code).toBe("server_error");
  });

  it("takes a call withdrawn while it waits out of the queue: it rejects at once with the reason and is never sent", async () => {
    const { batches, send } = recorder<number>();
    const c = new CallCoalescer<number, string>(send, { maxInFlight: 1 });
    const first = c.call(0);
    await turn();
    const gone = new AbortController();
    const withdrawn = c.call(1, gone.signal);
    const kept = c.call(2, new AbortController().signal);
    gone.abort(new OAuthError("temporarily_unavailable", "the caller left"));
    await expect(withdrawn).rejects.toMatchObject({ code: "temporarily_unavailable", description: "the caller left" });
    await expect(c.call(3, gone.signal)).rejects.toMatchObject({ description: "the caller left" });
    batches[0]?.answer([{ response: "0" }]);
    await first;
    await turn();
    expect(batches.map((b) => b.items.map((i) => i.request))).toEqual([[0], [2]]);
    batches[1]?.answer([{ response: "2" }]);
    expect(await kept).toBe("2");
  });

  it("answers a call that waited past maxWaitMs temporarily_unavailable when a slot frees, and never sends it", async () => {
    const { batches, send } = recorder<number>();
    const c = new CallCoalescer<number, string>(send, { maxInFlight: 1, maxWaitMs: 300 });
    const first = c.call(0);
    await turn();
    const overdue = c.call(1);
    await new Promise((r) => setTimeout(r, 400));
    const fresh = c.call(2);
    batches[0]?.answer([{ response: "0" }]);
    await first;
    await expect(overdue).rejects.toMatchObject({ code: "temporarily_unavailable" });
    await turn();
    expect(batches.map((b) => b.items.map((i) => i.request))).toEqual([[0], [2]]);
    batches[1]?.answer([{ response: "2" }]);
    expect(await fresh).toBe("2");
  });

  it("awaits the answer of a call withdrawn once its batch has left: the upstream may be acting on it", async () => {
    const { batches, send } = recorder<number>();
    const c = new CallCoalescer<number, string>(send);
    const gone = new AbortController();
    const call = c.call(1, gone.signal);
    await turn();
    gone.abort(new Error("too late"));
    batches[0]?.answer([{ response: "1" }]);
    expect(await call).toBe("1");
  });

  it("makes an unknown error code a server_error, never a success", async () => {
    const { batches, send } = recorder<number>();
    const c = new CallCoalescer<number, string>(send);
    const p = c.call(1);
    await turn();
    batches[0]?.answer([{ error: { code: "made_up", description: "?" } }]);
    await expect(p).rejects.toMatchObject({ code: "server_error" });
  });
});

describe("answerBatch", () => {
  it("answers each item on its own, in order, hiding unexpected errors", async () => {
    const items = [1, 2, 3, 4].map((n) => ({ request: n, trace_context: {} }));
    const results = await answerBatch(
      items,
      async (n: number) => {
        await turn();
        if (n === 2) throw invalidScope("not allowed");
        if (n === 3) throw new Error("database password is hunter2");
        return `ok ${n}`;
      },
      { name: "Test" },
    );
    expect(results[0]).toEqual({ response: "ok 1" });
    expect(results[1]).toEqual({ error: { code: "invalid_scope", description: "not allowed" } });
    expect(results[2]?.error?.code).toBe("server_error");
    expect(JSON.stringify(results[2])).not.toContain("hunter2");
    expect(results[3]).toEqual({ response: "ok 4" });
  });

  it("refuses an item without a request and a batch that is too large", async () => {
    const results = await answerBatch([{ request: null, trace_context: {} }], async () => "x", { name: "Test" });
    expect(results[0]?.error?.code).toBe("invalid_request");
    const huge = Array.from({ length: MAX_BATCH_ITEMS + 1 }, () => ({ request: 1, trace_context: {} }));
    await expect(answerBatch(huge, async () => "x", { name: "Test" })).rejects.toMatchObject({ code: "invalid_request" });
  });
});
