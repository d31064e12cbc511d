/**
 * The lineage walk over a real SQLite projection: what it reads of the store at a time (a token exchanged tens of
 * thousands of times) and how large its answer grows, measured with the AuditService's own protobuf serializer.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EVENT_TYPES } from "@sts/nats";
import { loadAuditProto } from "@sts/proto";
import type { AuditRecord as WireRecord } from "@sts/proto";
import { MAX_ANSWER_BYTES, wireBytes } from "./answer-size.js";
import { AuditStore } from "./audit-store.js";
import type { IncomingEvent } from "./audit-store.js";
import { lineage } from "./lineage.js";
import { toWire } from "./service.js";

let dir: string;
let files = 0;
const open: AuditStore[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-audit-lineage-"));
});

afterEach(() => {
  for (const store of open.splice(0)) store.close();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A real projection that notes the most records one call of `children` handed out. */
class CountingStore extends AuditStore {
  largestChildrenRead = 0;
  override children(...args: Parameters<AuditStore["children"]>): ReturnType<AuditStore["children"]> {
    const records = super.children(...args);
    this.largestChildrenRead = Math.max(this.largestChildrenRead, records.length);
    return records;
  }
}

/** A fresh projection holding `events`. */
function storeWith(events: IncomingEvent[]): CountingStore {
  const store = new CountingStore(join(dir, `audit-${++files}.db`));
  open.push(store);
  store.append(events);
  return store;
}

/** An exchange event of `jti` made from `parent`, padded to about `pad` bytes of data as real events are. */
const exchanged = (n: number, jti: string, parent: string | undefined, pad = 0): IncomingEvent => ({
  streamSequence: n,
  id: `e${n}`,
  type: n === 1 ? EVENT_TYPES.TOKEN_ISSUED : EVENT_TYPES.TOKEN_EXCHANGED,
  time: "2025-06-01T10:30:00.000Z",
  source: "test",
  data: { jti, ...(parent && { parent_jti: parent }), sub: "alice", client_id: "svc-a", scope: "s".repeat(pad) },
});

const bounds = { max: MAX_ANSWER_BYTES, sizeOf: wireBytes };
const serialize = loadAuditProto().sts.audit.v1.AuditService.service.Lineage.responseSerialize;

describe("lineage", () => {
  it("reads the children of a token exchanged 30,000 times a page at a time, never all of them at once", () => {
    const fanout = 30_000;
    const store = storeWith([exchanged(1, "root", undefined), ...Array.from({ length: fanout }, (_, i) => exchanged(i + 2, `c${i}`, "root"))]);
    const l = lineage(store, "root", toWire, bounds);
    // Cut by the answer's bounds (10,000 tokens, or its bytes first), said so.
    expect(l?.descendants.length).toBeGreaterThan(5_000);
    expect(l?.truncated).toBe(true);
    expect(store.largestChildrenRead).toBeLessThanOrEqual(1_000);
  });

  it("keeps an answer of ancestors and descendants of 2 KiB records under 4 MiB encoded, both sides shown and the cut said", () => {
    // 2,500 ancestors and 2,500 descendants of about 2 KiB each: 10 MB in all.
    const length = 5_001;
    const jtis = Array.from({ length }, (_, i) => `t${i}`);
    const store = storeWith(jtis.map((jti, i) => exchanged(i + 1, jti, jtis[i - 1], 2_000)));
    const middle = jtis[2_500] ?? "";
    const l = lineage(store, middle, toWire, bounds);
    if (!l) throw new Error("no lineage");
    const encoded = serialize(l);
    expect(encoded.length).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(encoded.length).toBeGreaterThan(2 * 1024 * 1024);
    expect(l.truncated).toBe(true);
    // Nearest first with none skipped, on both sides.
    expect(l.ancestors.map((a) => a.jti)).toEqual(jtis.slice(2_500 - l.ancestors.length, 2_500).reverse());
    expect(l.ancestors.length).toBeGreaterThan(500);
    let depth = 0;
    for (let n = l.descendants[0]; n; n = n.children[0]) {
      depth++;
      expect(n.record.jti).toBe(jtis[2_500 + depth]);
    }
    expect(depth).toBe(64);
  });

  it("gives the ancestors the bytes descendants leave: a long chain with nothing made from it is shown past half the bound", () => {
    const length = 3_000;
    const jtis = Array.from({ length }, (_, i) => `a${i}`);
    const store = storeWith(jtis.map((jti, i) => exchanged(i + 1, jti, jtis[i - 1], 1_000)));
    const l = lineage(store, jtis[length - 1] ?? "", toWire, bounds);
    if (!l) throw new Error("no lineage");
    const bytes = l.ancestors.reduce((sum, r) => sum + wireBytes(r), 0);
    expect(bytes).toBeGreaterThan(MAX_ANSWER_BYTES * 0.9);
    expect(serialize(l).length).toBeLessThanOrEqual(MAX_ANSWER_BYTES);
    expect(l.truncated).toBe(true);
  });
});

describe("wireBytes", () => {
  const serializeQuery = loadAuditProto().sts.audit.v1.AuditService.service.Query.responseSerialize;
  it("is at least what protobuf encodes a record in, non-ASCII text and empty fields included", () => {
    const store = storeWith([
      exchanged(1, "root", undefined),
      { ...exchanged(2, "ünïcødé-✓", "root", 300), data: { jti: "ünïcødé-✓", parent_jti: "root", aud: ["", "x".repeat(200)], actors: ["svc-a"] } },
    ]);
    for (const r of store.query({}, 0, 10).map(toWire)) {
      const records: WireRecord[] = [r];
      expect(wireBytes(r)).toBeGreaterThanOrEqual(serializeQuery({ records, next_page_token: "" }).length);
    }
  });
});
