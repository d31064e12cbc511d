/**
 * Verify over a real SQLite projection, edited from outside through a second connection as someone with the file
 * would edit it: every edit or removal is named, at the end of the chain too, and a long walk does not hold the
 * event loop.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EVENT_TYPES } from "@sts/nats";
import { AuditStore, recordHash } from "./audit-store.js";
import type { AuditRecord, IncomingEvent } from "./audit-store.js";
import { CUT_MARKER, MAX_DATA_DEPTH } from "./event-data.js";

let dir: string;
let files = 0;
const open: Array<{ close(): void }> = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-audit-store-"));
});

afterEach(() => {
  for (const handle of open.splice(0)) handle.close();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** An issuance event as the projection receives it. */
const issued = (n: number): IncomingEvent => ({
  streamSequence: n,
  id: `e${n}`,
  type: EVENT_TYPES.TOKEN_ISSUED,
  time: "2025-06-01T10:30:00.000Z",
  source: "test",
  data: { jti: `j${n}`, sub: "alice", client_id: "svc-a", aud: ["svc-b"], scope: "a" },
});

/** A projection holding `count` records, and a second connection to its file for editing it by hand. */
function projection(count: number): { store: AuditStore; file: Database.Database } {
  const path = join(dir, `audit-${++files}.db`);
  const store = new AuditStore(path);
  store.append(Array.from({ length: count }, (_, i) => issued(i + 1)));
  const file = new Database(path);
  open.push(file, store);
  return { store, file };
}

/** Row `sequence` as stored, with its lists parsed. */
function rowAt(file: Database.Database, sequence: number): AuditRecord {
  const row = file.prepare("SELECT * FROM records WHERE sequence = ?").get(sequence) as AuditRecord & { aud: string; actors: string };
  return { ...row, aud: JSON.parse(row.aud) as string[], actors: JSON.parse(row.actors) as string[] };
}

describe("AuditStore.verify", () => {
  it("passes a whole chain, having checked every record", async () => {
    const { store } = projection(5);
    expect(await store.verify()).toEqual({ ok: true, checked: 5, firstBad: 0, reason: "" });
  });

  it("names the first record removed from the end of the chain", async () => {
    const { store, file } = projection(5);
    expect(file.prepare("DELETE FROM records WHERE sequence >= 4").run().changes).toBe(2);
    expect(await store.verify()).toMatchObject({ ok: false, firstBad: 4, reason: "records missing at the end of the chain" });
  });

  it("fails a chain emptied of every record", async () => {
    const { store, file } = projection(3);
    file.prepare("DELETE FROM records").run();
    expect(await store.verify()).toMatchObject({ ok: false, firstBad: 1 });
  });

  it("fails a last record rewritten with its hash recomputed (the chain hangs together, but is not the one appended)", async () => {
    const { store, file } = projection(5);
    const { hash: _hash, prev_hash, ...content } = rowAt(file, 5);
    const forged = { ...content, scope: "a b c d" };
    file.prepare("UPDATE records SET scope = ?, hash = ? WHERE sequence = 5").run(forged.scope, recordHash(prev_hash, forged));
    expect(await store.verify()).toMatchObject({ ok: false, firstBad: 5 });
  });

  it("fails records added after the last one appended, though their hashes chain on", async () => {
    const { store, file } = projection(3);
    const last = rowAt(file, 3);
    const content = { ...last, sequence: 4, event_id: "forged", jti: "forged" };
    const { hash: _h, prev_hash: _p, ...hashed } = content;
    file
      .prepare(
        `INSERT INTO records (sequence, stream_sequence, event_id, type, time, source, jti, parent_jti, sub, client_id, aud, scope, actors, data_json, prev_hash, hash)
         VALUES (@sequence, @stream_sequence, @event_id, @type, @time, @source, @jti, @parent_jti, @sub, @client_id, @aud, @scope, @actors, @data_json, @prev_hash, @hash)`,
      )
      .run({ ...content, aud: JSON.stringify(content.aud), actors: JSON.stringify(content.actors), prev_hash: last.hash, hash: recordHash(last.hash, hashed) });
    expect(await store.verify()).toMatchObject({ ok: false, firstBad: 4 });
  });

  it("names a record whose audiences were edited into something that is not JSON, rather than failing the call", async () => {
    const { store, file } = projection(4);
    file.prepare("UPDATE records SET aud = 'svc-x' WHERE sequence = 2").run();
    expect(await store.verify()).toEqual({ ok: false, checked: 2, firstBad: 2, reason: "content does not match its hash" });
  });

  it("lets other work run while it walks a long chain", async () => {
    const { store } = projection(5_000);
    let ranMeanwhile = false;
    setImmediate(() => (ranMeanwhile = true));
    expect(await store.verify()).toMatchObject({ ok: true, checked: 5_000 });
    expect(ranMeanwhile).toBe(true);
  });

  it("checks the chain up to the records appended when it began, while more are appended during the walk", async () => {
    const { store } = projection(3_000);
    const walk = store.verify();
    store.append([issued(3_001), issued(3_002)]);
    expect(await walk).toEqual({ ok: true, checked: 3_000, firstBad: 0, reason: "" });
    expect(await store.verify()).toMatchObject({ ok: true, checked: 3_002 });
  });
});

describe("AuditStore.append of events it did not expect", () => {
  it("keeps the chain verifiable through text holding lone UTF-16 surrogates, which SQLite cannot store as they are", async () => {
    const { store } = projection(1);
    const odd = "alice\ud800";
    store.append([{ ...issued(2), id: `e2${odd}`, source: odd, data: { jti: `j2${odd}`, sub: odd, aud: [odd], actors: [odd] } }, issued(3)]);
    expect(store.query({}, 1, 1)[0]?.sub).toBe("alice\ufffd");
    expect(await store.verify()).toEqual({ ok: true, checked: 3, firstBad: 0, reason: "" });
  });

  it("records data nested thousands of levels deep cut at MAX_DATA_DEPTH, and goes on recording", async () => {
    const { store } = projection(0);
    const deep = `${"[".repeat(5_000)}"bottom"${"]".repeat(5_000)}`;
    const data = JSON.parse(`{"jti":"deep","nested":${deep},"__proto__":{"kept":true}}`) as Record<string, unknown>;
    store.append([{ ...issued(1), data }, issued(2)]);
    const [first, second] = store.query({}, 0, 10);
    const stored = JSON.parse(first?.data_json ?? "") as Record<string, unknown>;
    let level = stored.nested;
    let levels = 1;
    for (; Array.isArray(level); levels++) level = level[0];
    expect([levels, level]).toEqual([MAX_DATA_DEPTH, CUT_MARKER]);
    expect(Object.getOwnPropertyDescriptor(stored, "__proto__")?.value).toEqual({ kept: true });
    expect([first?.jti, second?.jti]).toEqual(["deep", "j2"]);
    expect((await store.verify()).ok).toBe(true);
  });
});

describe("AuditStore.page", () => {
  /** Records varied enough that every filter field selects some and leaves others, each combination included. */
  const varied = (n: number): IncomingEvent => ({
    streamSequence: n,
    id: `v${n}`,
    type: n % 3 === 0 ? EVENT_TYPES.TOKEN_EXCHANGED : EVENT_TYPES.TOKEN_ISSUED,
    time: new Date(Date.UTC(2025, 5, 1, 10) + ((n * 7919) % 60) * 60_000).toISOString(),
    source: "test",
    data: { jti: `v${n}`, sub: `user${n % 4}`, client_id: `svc-${n % 5}`, aud: n % 11 === 0 ? ["rare", "svc-b"] : [`svc-${n % 2 ? "b" : "c"}`], scope: "a" },
  });
  const COUNT = 90;
  const filters = [
    {},
    { sub: "user1" },
    { client_id: "svc-3" },
    { audience: "rare" },
    { type: EVENT_TYPES.TOKEN_EXCHANGED },
    { since: "2025-06-01T10:50:00.000Z" },
    { until: "2025-06-01T10:05:00.000Z" },
    { since: "2025-06-01T10:20:00.000Z", until: "2025-06-01T10:22:00.000Z" },
    { sub: "user2", audience: "rare" },
    { client_id: "svc-1", type: EVENT_TYPES.TOKEN_EXCHANGED, since: "2025-06-01T10:30:00.000Z" },
    { audience: "svc-b", type: EVENT_TYPES.TOKEN_ISSUED, until: "2025-06-01T10:40:00.000Z" },
    { sub: "nobody" },
  ];

  /** Every page from the start to the last, as `{ after, records, resumeAfter }`. */
  const allPages = (store: AuditStore, filter: object, limit: number) => {
    const pages: Array<{ after: number; sequences: number[]; resumeAfter: number | undefined }> = [];
    for (let after: number | undefined = 0; after !== undefined && pages.length <= COUNT + 1;) {
      const p = store.page(filter, after, limit);
      pages.push({ after, sequences: p.records.map((r) => r.sequence), resumeAfter: p.resumeAfter });
      after = p.resumeAfter;
    }
    return pages;
  };

  it.each([1, 4, 1_000])("pages through every filter to exactly the records it matches, in order, within a window of %i", (scanWindow) => {
    const store = new AuditStore(join(dir, `audit-${++files}.db`), { scanWindow });
    open.push(store);
    const all = store.append(Array.from({ length: COUNT }, (_, i) => varied(i + 1)));
    for (const filter of filters) {
      const expected = all.filter((r) => AuditStore.matches(r, filter)).map((r) => r.sequence);
      for (const limit of [1, 3, 50]) {
        const pages = allPages(store, filter, limit);
        expect([filter, limit, pages.flatMap((p) => p.sequences)]).toEqual([filter, limit, expected]);
        expect(pages.every((p) => p.sequences.length <= limit)).toBe(true);
      }
    }
  });

  it("reads a time range alone a window at a time, a page ending short (even empty) with where to go on", () => {
    const store = new AuditStore(join(dir, `audit-${++files}.db`), { scanWindow: 7 });
    open.push(store);
    store.append(Array.from({ length: COUNT }, (_, i) => varied(i + 1)));
    // Later than every record: nothing matches, and no page reads past its window to find that out.
    const pages = allPages(store, { since: "2025-06-01T12:00:00.000Z" }, 100);
    expect(pages.map((p) => [p.after, p.sequences, p.resumeAfter])).toEqual(
      Array.from({ length: Math.ceil(COUNT / 7) }, (_, i) => [i * 7, [], (i + 1) * 7 < COUNT ? (i + 1) * 7 : undefined]),
    );
  });

  it("indexes the audiences of a projection written before the audience table", () => {
    const path = join(dir, `audit-${++files}.db`);
    const before = new AuditStore(path);
    before.append(Array.from({ length: 30 }, (_, i) => varied(i + 1)));
    before.close();
    // As a file of layout 0 was: no audience entries, user_version 0.
    const file = new Database(path);
    file.exec("DELETE FROM record_audiences; PRAGMA user_version = 0;");
    file.close();
    const store = new AuditStore(path);
    open.push(store);
    expect(store.query({ audience: "rare" }, 0, 100).map((r) => r.jti)).toEqual(["v11", "v22"]);
  });
});
