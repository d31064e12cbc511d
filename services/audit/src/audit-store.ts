/**
 * The audit projection in SQLite. Each record carries the SHA-256 of the
 * previous record's hash and of its own content, so changing or removing any
 * row breaks the chain from there on. Appends are idempotent by event id.
 * The events stream is the source of truth: this file can be deleted and
 * rebuilt by replay.
 */
import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import { setImmediate } from "node:timers/promises";
import Database from "better-sqlite3";
import type { Database as Db, Statement } from "better-sqlite3";
import { boundedData } from "./event-data.js";

/** An event as received from the stream. */
export interface IncomingEvent {
  streamSequence: number;
  id: string;
  type: string;
  time: string;
  source: string;
  subject?: string;
  data: Record<string, unknown>;
}

/** A stored record. */
export interface AuditRecord {
  sequence: number;
  stream_sequence: number;
  event_id: string;
  type: string;
  time: string;
  source: string;
  jti: string;
  parent_jti: string;
  sub: string;
  client_id: string;
  aud: string[];
  scope: string;
  actors: string[];
  data_json: string;
  prev_hash: string;
  hash: string;
}

/** Filters of Query and Tail. */
export interface RecordFilter {
  sub?: string;
  client_id?: string;
  audience?: string;
  type?: string;
  since?: string;
  until?: string;
}

/** A page of records, and where the next one starts. */
export interface RecordPage {
  records: AuditRecord[];
  /** The sequence the next page starts after; undefined once the page reached the last record. */
  resumeAfter: number | undefined;
}

/**
 * Most sequence numbers one page reads when no index narrows the filter (`since`/`until` alone): SQLite reads such a
 * page synchronously, row by row, so a narrow time range over a long trail would otherwise hold the service (probes and
 * ingest included) for the length of the table. A page then ends early, possibly empty, with where to go on.
 */
export const SCAN_WINDOW = 20_000;

/**
 * The projection file's layout version (SQLite's user_version): 1 added the audience index table and the type index
 * in sequence order, which a file of version 0 gets, filled from its records, when it is opened.
 */
const LAYOUT_VERSION = 1;

/** A filter's conditions on `records r`, by field. */
const CONDITIONS: Array<[keyof RecordFilter, string]> = [
  ["sub", "r.sub = @sub"],
  ["client_id", "r.client_id = @client_id"],
  // Correlated, so checked per row by a point lookup: an IN list would first gather every entry of the audience.
  ["audience", "EXISTS (SELECT 1 FROM record_audiences x WHERE x.audience = @audience AND x.sequence = r.sequence)"],
  ["type", "r.type = @type"],
  ["since", "r.time >= @since"],
  ["until", "r.time < @until"],
];

/** An index a page can be read through, in sequence order: the rows it reads, its condition, where its window ends. */
interface Driver {
  by: keyof RecordFilter;
  from: string;
  match: string;
  /** The sequence column it yields in order. */
  sequence: string;
  windowEnd: string;
}

/** An index on one column of records (with the rowid, so in sequence order within a value). */
const columnDriver = (by: keyof RecordFilter, column: string, index: string): Driver => ({
  by,
  from: `records r INDEXED BY ${index}`,
  match: `r.${column} = @${by}`,
  sequence: "r.sequence",
  windowEnd: `SELECT sequence FROM records INDEXED BY ${index} WHERE ${column} = @${by} AND sequence > @after ORDER BY sequence LIMIT 1 OFFSET @skip`,
});

/** The drivers, most selective first (SQLite has no statistics here to choose by). */
const DRIVERS: Driver[] = [
  columnDriver("sub", "sub", "records_sub"),
  columnDriver("client_id", "client_id", "records_client"),
  {
    by: "audience",
    // CROSS JOIN keeps the audience table outermost: its entries come in sequence order.
    from: "record_audiences a CROSS JOIN records r ON r.sequence = a.sequence",
    match: "a.audience = @audience",
    sequence: "a.sequence",
    windowEnd: "SELECT sequence FROM record_audiences WHERE audience = @audience AND sequence > @after ORDER BY sequence LIMIT 1 OFFSET @skip",
  },
  columnDriver("type", "type", "records_type"),
];

/** The newest record's position and hash. */
interface ChainHead {
  sequence: number;
  hash: string;
  stream_sequence: number;
}

/** The events stream the projection reads: its creation time, and the last record made before it was first read. */
interface StreamRead {
  created: string;
  fromSequence: number;
}

/** The hash of the empty chain. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * Text as SQLite stores it. A lone UTF-16 surrogate (JSON's `"\ud800"` parses to one) has no UTF-8 form: SQLite
 * would hand back replacement characters in its place, so a record hashed over the text as received would fail Verify
 * once read back, though nobody touched it, and hide any later tampering behind that false alarm. Each one becomes
 * U+FFFD before the record is hashed, so the hash covers what is stored. (data_json needs none of this:
 * JSON.stringify writes a lone surrogate as an escape.)
 */
const wellFormed = (v: string): string => v.replace(/\p{Cs}/gu, "\uFFFD");
const str = (v: unknown): string => (typeof v === "string" ? wellFormed(v) : "");
const strs = (v: unknown): string[] =>
  (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : typeof v === "string" ? [v] : []).map(wellFormed);

/** The content a record's hash covers: every column but the hashes. */
export function recordHash(prevHash: string, r: Omit<AuditRecord, "hash" | "prev_hash">): string {
  const content = JSON.stringify([
    r.sequence,
    r.stream_sequence,
    r.event_id,
    r.type,
    r.time,
    r.source,
    r.jti,
    r.parent_jti,
    r.sub,
    r.client_id,
    r.aud,
    r.scope,
    r.actors,
    r.data_json,
  ]);
  return createHash("sha256").update(prevHash).update("\n").update(content).digest("hex");
}

interface Row extends Omit<AuditRecord, "aud" | "actors"> {
  aud: string;
  actors: string;
}

const toRecord = (row: Row): AuditRecord => ({ ...row, aud: JSON.parse(row.aud) as string[], actors: JSON.parse(row.actors) as string[] });

/** What Verify found: the first bad record's sequence and why (0 and "" when the chain is whole). */
export interface ChainCheck {
  ok: boolean;
  checked: number;
  firstBad: number;
  reason: string;
}

/** Records Verify reads between two turns of the event loop. */
const VERIFY_PAGE = 1000;

/** The array a JSON column holds, or undefined when it is not one (a hand-edited row): that row's content is bad, not the walk. */
function storedList(text: string): unknown[] | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Why a stored row does not continue the chain at `expected` after `prev`, or undefined when it does. */
function brokenLink(row: Row, expected: number, prev: string): { firstBad: number; reason: string } | undefined {
  if (row.sequence !== expected) return { firstBad: expected, reason: "record missing" };
  if (row.prev_hash !== prev) return { firstBad: row.sequence, reason: "previous hash does not match" };
  const [aud, actors] = [storedList(row.aud), storedList(row.actors)];
  const { hash, prev_hash: _p, ...content } = row;
  if (!aud || !actors || recordHash(prev, { ...content, aud: aud as string[], actors: actors as string[] }) !== hash)
    return { firstBad: row.sequence, reason: "content does not match its hash" };
  return undefined;
}

/** The SQLite projection. Emits "appended" with the records of each committed batch. */
export class AuditStore extends EventEmitter {
  readonly #db: Db;
  readonly #insert: Statement;
  readonly #insertAudience: Statement;
  readonly #statements = new Map<string, Statement>();
  readonly #hasEvent: Statement;
  readonly #children: Statement;
  #last: ChainHead;
  #stream: StreamRead | undefined;

  readonly #scanWindow: number;

  /** Opens (or makes) the projection file; `scanWindow` is for tests, which read windows smaller than SCAN_WINDOW. */
  constructor(file: string, options: { scanWindow?: number } = {}) {
    super();
    this.#scanWindow = options.scanWindow ?? SCAN_WINDOW;
    this.#db = new Database(file);
    // WAL with FULL sync: a batch is acked to JetStream only after its commit is on disk.
    this.#db.pragma("journal_mode = WAL");
    this.#db.pragma("synchronous = FULL");
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS records (
        sequence INTEGER PRIMARY KEY,
        stream_sequence INTEGER NOT NULL,
        event_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        time TEXT NOT NULL,
        source TEXT NOT NULL,
        jti TEXT NOT NULL,
        parent_jti TEXT NOT NULL,
        sub TEXT NOT NULL,
        client_id TEXT NOT NULL,
        aud TEXT NOT NULL,
        scope TEXT NOT NULL,
        actors TEXT NOT NULL,
        data_json TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS records_jti ON records (jti);
      CREATE INDEX IF NOT EXISTS records_parent ON records (parent_jti);
      CREATE INDEX IF NOT EXISTS records_sub ON records (sub);
      CREATE INDEX IF NOT EXISTS records_client ON records (client_id);
      CREATE INDEX IF NOT EXISTS records_type ON records (type);
      -- Indexes of earlier layouts no page reads through (each names the index it reads): each cost an insert per append.
      DROP INDEX IF EXISTS records_type_time;
      DROP INDEX IF EXISTS records_time;
      CREATE TABLE IF NOT EXISTS record_audiences (
        audience TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        PRIMARY KEY (audience, sequence)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS records_id_token ON records (json_extract(data_json, '$.id_token_jti'));
      CREATE TABLE IF NOT EXISTS stream_read (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        created TEXT NOT NULL,
        from_sequence INTEGER NOT NULL
      );
    `);
    this.#insert = this.#db.prepare(
      `INSERT INTO records (sequence, stream_sequence, event_id, type, time, source, jti, parent_jti, sub, client_id, aud, scope, actors, data_json, prev_hash, hash)
       VALUES (@sequence, @stream_sequence, @event_id, @type, @time, @source, @jti, @parent_jti, @sub, @client_id, @aud, @scope, @actors, @data_json, @prev_hash, @hash)`,
    );
    this.#insertAudience = this.#db.prepare("INSERT OR IGNORE INTO record_audiences (audience, sequence) VALUES (?, ?)");
    if ((this.#db.pragma("user_version", { simple: true }) as number) < LAYOUT_VERSION) {
      // A file written before the audience table: its records' audiences are indexed once, in one transaction.
      this.#db.transaction(() => {
        this.#db.exec("INSERT OR IGNORE INTO record_audiences (audience, sequence) SELECT value, sequence FROM records, json_each(records.aud)");
        this.#db.pragma(`user_version = ${LAYOUT_VERSION}`);
      })();
    }
    this.#hasEvent = this.#db.prepare("SELECT 1 FROM records WHERE event_id = ?");
    // Asked per node and per page of a Lineage walk: prepared once.
    this.#children = this.#db.prepare(
      "SELECT * FROM records WHERE parent_jti = ? AND sequence > ? AND type IN ('token.issued', 'token.exchanged', 'token.refreshed') ORDER BY sequence LIMIT ?",
    );
    this.#stream = this.#db.prepare("SELECT created, from_sequence AS fromSequence FROM stream_read WHERE id = 1").get() as StreamRead | undefined;
    const last = this.#db.prepare("SELECT sequence, hash, stream_sequence FROM records ORDER BY sequence DESC LIMIT 1").get() as ChainHead | undefined;
    this.#last = last ?? { sequence: 0, hash: GENESIS_HASH, stream_sequence: 0 };
    // Records from before the stream was made again carry the old stream's numbers: no position in this one.
    if (this.#last.sequence <= (this.#stream?.fromSequence ?? 0)) this.#last.stream_sequence = 0;
  }

  /** Highest sequence recorded of the events stream being read (0 for an empty projection, or none read from it yet). */
  get lastStreamSequence(): number {
    return this.#last.stream_sequence;
  }

  /** Creation time of the events stream the projection reads, once recorded (a projection made before this was kept has none). */
  get streamCreated(): string | undefined {
    return this.#stream?.created;
  }

  /**
   * Records which events stream the projection reads, by its creation time. `anew`: it is another stream than the
   * one read so far (deleted and made again), whose numbers start over, so the position in it does too; records
   * already held stay, and an event read again is still recorded once.
   */
  readStream(created: string, anew: boolean): void {
    const fromSequence = anew ? this.#last.sequence : (this.#stream?.fromSequence ?? 0);
    this.#db
      .prepare(
        "INSERT INTO stream_read (id, created, from_sequence) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET created = excluded.created, from_sequence = excluded.from_sequence",
      )
      .run(created, fromSequence);
    this.#stream = { created, fromSequence };
    if (anew) this.#last = { ...this.#last, stream_sequence: 0 };
  }

  /** Number of records. */
  get size(): number {
    return this.#last.sequence;
  }

  /** Appends a batch in one transaction; events already recorded are skipped. Returns the new records. */
  append(events: readonly IncomingEvent[]): AuditRecord[] {
    const added: AuditRecord[] = [];
    const tx = this.#db.transaction(() => {
      let { sequence, hash, stream_sequence } = this.#last;
      for (const e of events) {
        const id = wellFormed(e.id);
        if (this.#hasEvent.get(id)) continue;
        const d = e.data;
        const base = {
          sequence: sequence + 1,
          stream_sequence: e.streamSequence,
          event_id: id,
          type: wellFormed(e.type),
          time: wellFormed(e.time),
          source: wellFormed(e.source),
          jti: str(d.jti) || str(d.subject_jti),
          parent_jti: str(d.parent_jti),
          sub: str(d.sub),
          client_id: str(d.client_id),
          aud: strs(d.aud ?? d.audience),
          scope: str(d.scope),
          actors: strs(d.actors),
          data_json: JSON.stringify(boundedData(d)),
        };
        const record: AuditRecord = { ...base, prev_hash: hash, hash: recordHash(hash, base) };
        this.#insert.run({ ...record, aud: JSON.stringify(record.aud), actors: JSON.stringify(record.actors) });
        for (const audience of record.aud) this.#insertAudience.run(audience, record.sequence);
        sequence = record.sequence;
        hash = record.hash;
        stream_sequence = Math.max(stream_sequence, e.streamSequence);
        added.push(record);
      }
      return { sequence, hash, stream_sequence };
    });
    this.#last = tx();
    if (added.length > 0) this.emit("appended", added);
    return added;
  }

  /**
   * One page of a filter's records. The filter's most selective equality (sub, then client, audience, type; none: the
   * table itself) drives the read, through an index in sequence order, so the records come in order with no sort; the
   * other conditions are checked on what it yields. A page reads at most SCAN_WINDOW of the driver's entries: SQLite
   * reads synchronously, and a page whose other conditions match little (a narrow time range, a rare audience of a
   * common client) would otherwise read the trail to its end while the service, its probes and its ingest wait.
   */
  page(filter: RecordFilter, afterSequence: number, limit: number): RecordPage {
    const head = this.#last.sequence;
    // None: the table itself, in sequence order.
    const driver = DRIVERS.find((d) => filter[d.by]);
    const params: Record<string, unknown> = { after: afterSequence, limit, skip: this.#scanWindow - 1 };
    const rest: string[] = [];
    for (const [name, clause] of CONDITIONS) {
      const value = filter[name];
      if (!value) continue;
      params[name] = value;
      if (name !== driver?.by) rest.push(clause);
    }
    // Where the window ends: at the SCAN_WINDOW-th entry of the driver after `after`. A filter of one condition needs
    // none: every entry it reads is a record of the page, and the limit ends it.
    let upTo = head;
    if (rest.length > 0) {
      const end = driver ? (this.#prepared(driver.windowEnd).get(params) as { sequence: number } | undefined)?.sequence : afterSequence + this.#scanWindow;
      upTo = Math.min(head, end ?? head);
    }
    params.upTo = upTo;
    const where = [...(driver ? [driver.match] : []), ...rest].join(" AND ") || "1 = 1";
    const [from, sequence] = driver ? [driver.from, driver.sequence] : ["records r NOT INDEXED", "r.sequence"];
    const rows = this.#prepared(
      `SELECT r.* FROM ${from} WHERE ${sequence} > @after AND ${sequence} <= @upTo AND ${where} ORDER BY ${sequence} LIMIT @limit`,
    ).all(params) as Row[];
    const records = rows.map(toRecord);
    const last = records[records.length - 1];
    if (last && records.length >= limit) return { records, resumeAfter: last.sequence };
    return { records, resumeAfter: upTo < head ? upTo : undefined };
  }

  /** A statement prepared once per text: a page's text depends only on which filter fields are set. */
  #prepared(text: string): Statement {
    let statement = this.#statements.get(text);
    if (!statement) this.#statements.set(text, (statement = this.#db.prepare(text)));
    return statement;
  }

  /** Records matching the filter after `afterSequence`, oldest first: those of the first {@link page}. */
  query(filter: RecordFilter, afterSequence: number, limit: number): AuditRecord[] {
    return this.page(filter, afterSequence, limit).records;
  }

  /** Whether a record matches a filter (for live tailing). */
  static matches(r: AuditRecord, f: RecordFilter): boolean {
    return (
      (!f.sub || r.sub === f.sub) &&
      (!f.client_id || r.client_id === f.client_id) &&
      (!f.type || r.type === f.type) &&
      (!f.since || r.time >= f.since) &&
      (!f.until || r.time < f.until) &&
      (!f.audience || r.aud.includes(f.audience))
    );
  }

  /**
   * The issuance record of a token (token.issued / token.exchanged / token.refreshed). An ID token has no event of its
   * own: its jti finds the record of the access token it was handed out with.
   */
  tokenRecord(jti: string): AuditRecord | undefined {
    const issuance = "type IN ('token.issued', 'token.exchanged', 'token.refreshed')";
    const row = (this.#db.prepare(`SELECT * FROM records WHERE jti = ? AND ${issuance} ORDER BY sequence LIMIT 1`).get(jti) ??
      this.#db.prepare(`SELECT * FROM records WHERE json_extract(data_json, '$.id_token_jti') = ? AND ${issuance} ORDER BY sequence LIMIT 1`).get(jti)) as
      Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  /**
   * Issuance records of tokens made from a token, oldest first, at most `limit` after `afterSequence`: one token may
   * have been exchanged any number of times, and a walk reads its children a page at a time rather than all at once.
   */
  children(jti: string, afterSequence: number, limit: number): AuditRecord[] {
    const rows = this.#children.all(jti, afterSequence, limit) as Row[];
    return rows.map(toRecord);
  }

  /**
   * Walks the chain, a page at a time (other calls and the projector run between pages: a trail of millions of
   * records would otherwise hold the event loop, health checks included, for the whole walk), and reports the first
   * record whose links or hash do not match. The walk ends at the head this process appended, which is checked too:
   * records cut off the end, or a chain rewritten with its hashes recomputed, hang together by themselves.
   */
  async verify(): Promise<ChainCheck> {
    const head = { ...this.#last };
    const page = this.#db.prepare("SELECT * FROM records WHERE sequence >= ? AND sequence <= ? ORDER BY sequence LIMIT ?");
    let prev = GENESIS_HASH;
    let expected = 1;
    let checked = 0;
    for (;;) {
      const rows = page.all(expected, head.sequence, VERIFY_PAGE) as Row[];
      for (const row of rows) {
        checked++;
        const bad = brokenLink(row, expected, prev);
        if (bad) return { ok: false, checked, ...bad };
        prev = row.hash;
        expected++;
      }
      if (rows.length < VERIFY_PAGE) break;
      await setImmediate();
    }
    if (expected <= head.sequence) return { ok: false, checked, firstBad: expected, reason: "records missing at the end of the chain" };
    if (prev !== head.hash) return { ok: false, checked, firstBad: head.sequence, reason: "the chain does not end in the record last appended" };
    // In the same turn as the answer: appends are synchronous, so `#last` is what the file should end with now.
    const { newest } = this.#db.prepare("SELECT MAX(sequence) AS newest FROM records").get() as { newest: number | null };
    if ((newest ?? 0) > this.#last.sequence) return { ok: false, checked, firstBad: this.#last.sequence + 1, reason: "records after the last one appended" };
    return { ok: true, checked, firstBad: 0, reason: "" };
  }

  /** Closes the database. */
  close(): void {
    this.#db.close();
  }
}
