/**
 * The AuditService handlers over a real SQLite projection, served by a real gRPC server on loopback and called
 * through a generated client: time bounds as instants, Lineage of a long refresh family and of an ID token, and a
 * Tail's catch-up that waits for its reader, lets other work run and checks the credential between pages. Who the
 * caller is and the record of the read are the handlers' inputs (ReadAccess), given here as plain functions.
 */
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setImmediate } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Metadata, credentials, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { OAuthError } from "@sts/errors";
import { startGrpcServer } from "@sts/grpc";
import { EVENT_TYPES } from "@sts/nats";
import { loadAuditProto } from "@sts/proto";
import type { AuditRecord__Output, AuditServiceClient, LineageNode__Output, LineageResponse__Output, QueryResponse__Output } from "@sts/proto";
import { createLogger } from "@sts/telemetry";
import { waitFor } from "@sts/testkit";
import type { AccessFilter } from "./access-record.js";
import { AuditStore } from "./audit-store.js";
import type { IncomingEvent } from "./audit-store.js";
import type { Auditor } from "./authenticate-auditor.js";
import { MAX_DESCENDANT_DEPTH } from "./lineage.js";
import { MAX_TAILS_PER_AUDITOR, auditService } from "./service.js";
import type { AuditServiceOptions, ReadAccess } from "./service.js";
import { TAIL_AFTER_HEADER } from "./tail-position.js";

const logger = createLogger("audit-service-test", { level: "silent" });
const alice: Auditor = { credential: "access_token", sub: "alice", client_id: "auditor-alice", jti: "j-alice" };
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-audit-service-"));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A real projection that counts its reads, to see how far a Tail has read. */
class CountingStore extends AuditStore {
  queries = 0;
  override page(...args: Parameters<AuditStore["page"]>): ReturnType<AuditStore["page"]> {
    this.queries++;
    return super.page(...args);
  }
}

let files = 0;
/** A fresh projection file holding `events`. */
function storeWith(events: IncomingEvent[], options: { scanWindow?: number } = {}): CountingStore {
  const store = new CountingStore(join(dir, `audit-${++files}.db`), options);
  store.append(events);
  return store;
}

/** An issuance event as the projection receives it. */
function issued(n: number, data: Record<string, unknown>, more: Partial<IncomingEvent> = {}): IncomingEvent {
  return { streamSequence: n, id: `e${n}`, type: EVENT_TYPES.TOKEN_ISSUED, time: "2025-06-01T10:30:00.000Z", source: "test", data, ...more };
}

/** Everyone is alice and every read is recorded, unless a test says otherwise. */
const openAccess = (): ReadAccess => ({ authenticate: async () => alice, record: async () => undefined });

/** Serves the audit API over `store` on a free loopback port, with a client for it. */
async function serve(
  store: AuditStore,
  access: ReadAccess = openAccess(),
  options: AuditServiceOptions = {},
): Promise<{ client: AuditServiceClient; close(): Promise<void> }> {
  const proto = loadAuditProto();
  const server = await startGrpcServer({
    port: 0,
    services: [{ definition: proto.sts.audit.v1.AuditService.service, implementation: auditService(store, logger, access, options) }],
    logger,
  });
  const client = new proto.sts.audit.v1.AuditService(server.address, credentials.createInsecure(), { "grpc.max_receive_message_length": 64 * 1024 * 1024 });
  return {
    client,
    close: async () => {
      client.close();
      await server.shutdown(0);
      store.close();
    },
  };
}

/** A unary call's answer, or its gRPC status and OAuth error. */
function unaryCall<T>(
  client: AuditServiceClient,
  method: "Query" | "Lineage",
  request: object,
): Promise<{ ok: true; value: T } | { ok: false; code: number; error: unknown }> {
  return new Promise((resolve) => {
    const callback = (err: ServiceError | null, value?: T): void =>
      resolve(err ? { ok: false, code: err.code, error: err.metadata.get("oauth-error")[0] } : { ok: true, value: value as T });
    (client[method] as unknown as (r: object, cb: typeof callback) => void).call(client, request, callback);
  });
}

/** An open Tail: what it was sent (when it reads), how it ended, and its end. */
interface OpenTail {
  records: AuditRecord__Output[];
  ended: Promise<{ code: number; error: unknown }>;
  cancel(): void;
}

/**
 * Serves `store`, opens a Tail with `request` (reading what it is sent, or leaving it unread), runs `body` with it,
 * and ends the Tail and the server whatever happens.
 */
async function withTail(
  store: AuditStore,
  request: object,
  options: { read: boolean; access?: ReadAccess },
  body: (t: OpenTail) => Promise<void>,
): Promise<void> {
  const api = await serve(store, options.access);
  const stream = api.client.Tail(request);
  const records: AuditRecord__Output[] = [];
  const ended = new Promise<{ code: number; error: unknown }>((resolve) => {
    stream.on("error", (err: ServiceError) => resolve({ code: err.code, error: err.metadata.get("oauth-error")[0] }));
    stream.on("end", () => resolve({ code: status.OK, error: undefined }));
  });
  if (options.read) stream.on("data", (r: AuditRecord__Output) => records.push(r));
  try {
    await body({ records, ended, cancel: () => stream.cancel() });
  } finally {
    stream.cancel();
    await ended;
    await api.close();
  }
}

describe("since and until (RFC 3339 date-times, compared as instants)", () => {
  const times = ["2025-06-01T09:59:59.999Z", "2025-06-01T10:00:00.000Z", "2025-06-01T10:00:00.500Z", "2025-06-01T11:30:00.000Z", "2025-06-01T12:00:00.000Z"];
  let api: Awaited<ReturnType<typeof serve>>;
  let recorded: AccessFilter[];

  beforeAll(async () => {
    recorded = [];
    const store = storeWith(times.map((time, i) => issued(i + 1, { jti: `t${i}` }, { time })));
    api = await serve(store, {
      authenticate: async () => alice,
      record: async (_rpc, _auditor, _peer, filter) => void recorded.push(filter),
    });
  });

  afterAll(() => api.close());

  const timesOf = async (filter: object): Promise<string[]> => {
    const r = await unaryCall<QueryResponse__Output>(api.client, "Query", { filter });
    if (!r.ok) throw new Error(`Query failed: ${r.code} ${String(r.error)}`);
    return r.value.records.map((x) => x.time);
  };

  it.each([
    // 12:00 at +02:00 is 10:00Z: as text it sorted after every record before 12:00Z.
    [{ since: "2025-06-01T12:00:00+02:00" }, times.slice(1)],
    // Records carry milliseconds: as text 10:00:00.500Z sorted before 10:00:00Z ('.' < 'Z').
    [{ since: "2025-06-01T10:00:00Z" }, times.slice(1)],
    [{ until: "2025-06-01T10:00:00Z" }, times.slice(0, 1)],
    [{ since: "2025-06-01T09:00:00-01:00", until: "2025-06-01t12:00:00z" }, times.slice(1, 4)],
    [{ since: "2025-06-01T10:00:00.0001Z" }, times.slice(2)],
  ])("Query with %j answers every record in range", async (filter, expected) => {
    expect(await timesOf(filter)).toEqual(expected);
  });

  it("records the bounds as it compared them", async () => {
    await timesOf({ since: "2025-06-01T12:00:00+02:00" });
    expect(recorded.at(-1)).toMatchObject({ since: "2025-06-01T10:00:00.000Z", until: "" });
  });

  it.each(["June 1, 2025", "2025-06-01", "2025-06-01T10:00:00", "2025-06-01 10:00:00Z", "2025-02-30T10:00:00Z", "1748772000"])(
    "refuses %s as a bound with invalid_request, and reads and records nothing",
    async (bound) => {
      const before = recorded.length;
      for (const filter of [{ since: bound }, { until: bound }]) {
        const r = await unaryCall(api.client, "Query", { filter });
        expect(r.ok ? "answered" : [r.code, r.error]).toEqual([status.INVALID_ARGUMENT, "invalid_request"]);
      }
      expect(recorded.length).toBe(before);
    },
  );

  describe("over a trail read a window at a time", () => {
    // 40 records, the last 3 in range: with a window of 5, most pages of a time range alone find nothing.
    const trail = (): IncomingEvent[] =>
      Array.from({ length: 40 }, (_, i) => issued(i + 1, { jti: `w${i + 1}` }, { time: i < 37 ? "2025-06-01T09:00:00.000Z" : "2025-06-01T11:00:00.000Z" }));
    const late = { since: "2025-06-01T10:00:00Z" };

    it("Query answers a page that found nothing with where to go on, and its pages hold every record in range", async () => {
      const windowed = await serve(storeWith(trail(), { scanWindow: 5 }));
      try {
        const jtis: string[] = [];
        const tokens: string[] = [];
        let token = "";
        do {
          const r = await unaryCall<QueryResponse__Output>(windowed.client, "Query", { filter: late, page_size: 100, page_token: token });
          if (!r.ok) throw new Error(`Query failed: ${r.code} ${String(r.error)}`);
          jtis.push(...r.value.records.map((x) => x.jti));
          tokens.push((token = r.value.next_page_token));
        } while (token && tokens.length < 50);
        expect(jtis).toEqual(["w38", "w39", "w40"]);
        // The first page read records 1–5 only, found none of them in range, and said to go on after 5.
        expect(Buffer.from(tokens[0] ?? "", "base64url").toString()).toBe("5");
        expect(tokens.at(-1)).toBe("");
      } finally {
        await windowed.close();
      }
    });

    it("a Tail catches up past the windows that hold nothing in range", async () => {
      const store = storeWith(trail(), { scanWindow: 5 });
      await withTail(store, { filter: late, after_sequence: "1" }, { read: true }, async (t) => {
        await waitFor(() => t.records.length === 3, { message: "the records in range were never sent" });
        expect(t.records.map((r) => r.jti)).toEqual(["w38", "w39", "w40"]);
      });
    });
  });

  it("bounds a Tail's live records as Query's", async () => {
    const store = storeWith([]);
    await withTail(store, { filter: { since: "2025-06-01T12:00:00+02:00" }, after_sequence: "0" }, { read: true }, async (t) => {
      await waitFor(() => store.listenerCount("appended") > 0, { message: "the Tail never followed live records" });
      store.append([issued(1, { jti: "early" }, { time: "2025-06-01T09:59:59.999Z" }), issued(2, { jti: "late" }, { time: "2025-06-01T10:00:00.500Z" })]);
      await waitFor(() => t.records.length > 0, { message: "the record in range never came" });
      expect(t.records.map((r) => r.jti)).toEqual(["late"]);
    });
  });
});

describe("Lineage", () => {
  /** The chain below a node, following first children (a chain has no other). */
  const chainBelow = (nodes: LineageNode__Output[]): string[] => {
    const out: string[] = [];
    for (let n = nodes[0]; n; n = n.children[0]) out.push(n.record?.jti ?? "");
    return out;
  };

  it("answers a refresh family thousands of rotations long (each refresh's parent is the previous access token), nesting descendants as deep as decoders take", async () => {
    const rotations = 5_000;
    const jtis = Array.from({ length: rotations + 1 }, (_, i) => `at${i}`);
    const store = storeWith(
      jtis.map((jti, i) =>
        issued(
          i + 1,
          i === 0 ? { jti, refresh_family: "f" } : { jti, parent_jti: jtis[i - 1], refresh_family: "f" },
          i === 0 ? {} : { type: EVENT_TYPES.TOKEN_REFRESHED },
        ),
      ),
    );
    const api = await serve(store);
    const lineageOf = async (jti: string): Promise<LineageResponse__Output> => {
      const r = await unaryCall<LineageResponse__Output>(api.client, "Lineage", { jti });
      if (!r.ok) throw new Error(`Lineage of ${jti} failed: ${r.code} ${String(r.error)}`);
      return r.value;
    };
    try {
      // Protobuf refuses messages nested past 100: the tree stops there, and the deepest token shown goes on.
      const depth = MAX_DESCENDANT_DEPTH;
      const first = await lineageOf("at0");
      expect(chainBelow(first.descendants)).toEqual(jtis.slice(1, depth + 1));
      // The cut says so: the deepest node shown has more below it, and no node above it does.
      const nodes: LineageNode__Output[] = [];
      for (let n = first.descendants[0]; n; n = n.children[0]) nodes.push(n);
      expect(nodes.map((n) => n.more)).toEqual([...Array<boolean>(depth - 1).fill(false), true]);
      expect(first.truncated).toBe(true);
      expect(chainBelow((await lineageOf(`at${depth}`)).descendants)).toEqual(jtis.slice(depth + 1, 2 * depth + 1));
      const newest = await lineageOf(`at${rotations}`);
      expect(newest.ancestors.map((a) => a.jti)).toEqual(jtis.slice(0, -1).reverse());
      expect(newest.descendants).toEqual([]);
      expect(newest.truncated).toBe(false);
      // Within the depth bound, the last token of a chain has nothing more.
      const nearEnd = await lineageOf(`at${rotations - 3}`);
      expect(nearEnd.truncated).toBe(false);
      expect(nearEnd.descendants[0]?.children[0]?.children[0]?.more).toBe(false);
    } finally {
      await api.close();
    }
  });

  it("says when the answer's size bound leaves tokens out, on the node whose children were cut and on the answer", async () => {
    // 10,001 tokens exchanged from one child of the root: the walk's 10,000-token budget runs out among them.
    const fanout = 10_001;
    const store = storeWith([
      issued(1, { jti: "root" }),
      issued(2, { jti: "mid", parent_jti: "root" }, { type: EVENT_TYPES.TOKEN_EXCHANGED }),
      ...Array.from({ length: fanout }, (_, i) => issued(i + 3, { jti: `leaf${i}`, parent_jti: "mid" }, { type: EVENT_TYPES.TOKEN_EXCHANGED })),
    ]);
    const api = await serve(store);
    try {
      const r = await unaryCall<LineageResponse__Output>(api.client, "Lineage", { jti: "root" });
      if (!r.ok) throw new Error(`Lineage failed: ${r.code} ${String(r.error)}`);
      expect(r.value.truncated).toBe(true);
      const mid = r.value.descendants[0];
      expect(mid?.record?.jti).toBe("mid");
      expect(mid?.more).toBe(true);
      expect(mid?.children.length).toBe(10_000 - 1);
      expect(mid?.children.every((c) => !c.more)).toBe(true);
      // From the cut node on, the rest is there.
      const fromMid = await unaryCall<LineageResponse__Output>(api.client, "Lineage", { jti: "mid" });
      expect(fromMid.ok && fromMid.value.descendants.length).toBe(10_000);
      expect(fromMid.ok && fromMid.value.truncated).toBe(true);
    } finally {
      await api.close();
    }
  });

  it("says when ancestors past the size bound are left out", async () => {
    const length = 10_002;
    const jtis = Array.from({ length }, (_, i) => `c${i}`);
    const store = storeWith(jtis.map((jti, i) => issued(i + 1, i === 0 ? { jti } : { jti, parent_jti: jtis[i - 1] }, { type: EVENT_TYPES.TOKEN_EXCHANGED })));
    const api = await serve(store);
    try {
      const last = await unaryCall<LineageResponse__Output>(api.client, "Lineage", { jti: jtis[length - 1] });
      expect(last.ok && last.value.ancestors.length).toBe(10_000);
      expect(last.ok && last.value.ancestors.at(-1)?.jti).toBe("c1");
      expect(last.ok && last.value.truncated).toBe(true);
      const whole = await unaryCall<LineageResponse__Output>(api.client, "Lineage", { jti: jtis[length - 2] });
      expect(whole.ok && whole.value.ancestors.length).toBe(10_000);
      expect(whole.ok && whole.value.truncated).toBe(false);
    } finally {
      await api.close();
    }
  });

  it("answers an ID token's jti exactly as the access token's it was handed out with, descendants included", async () => {
    const store = storeWith([
      issued(1, { jti: "at1", grant_type: "authorization_code" }),
      issued(2, { jti: "at2", parent_jti: "at1", id_token_jti: "idt2" }, { type: EVENT_TYPES.TOKEN_REFRESHED }),
      issued(3, { jti: "at3", parent_jti: "at2" }, { type: EVENT_TYPES.TOKEN_EXCHANGED }),
      issued(4, { jti: "at4", parent_jti: "at3" }, { type: EVENT_TYPES.TOKEN_EXCHANGED }),
    ]);
    const api = await serve(store);
    try {
      const byAccessToken = await unaryCall<LineageResponse__Output>(api.client, "Lineage", { jti: "at2" });
      const byIdToken = await unaryCall<LineageResponse__Output>(api.client, "Lineage", { jti: "idt2" });
      expect(byAccessToken.ok && chainBelow(byAccessToken.value.descendants)).toEqual(["at3", "at4"]);
      expect(byAccessToken.ok && byAccessToken.value.ancestors.map((a) => a.jti)).toEqual(["at1"]);
      expect(byIdToken).toEqual(byAccessToken);
    } finally {
      await api.close();
    }
  });
});

describe("Tail following live records", () => {
  it("keeps a bounded backlog for a reader that stops reading, and sends the rest from the store once it reads again, in order, none lost or twice", async () => {
    const store = storeWith([]);
    const api = await serve(store);
    const stream = api.client.Tail({ filter: { sub: "s" }, after_sequence: "0" });
    const seen: number[] = [];
    stream.on("data", (r: AuditRecord__Output) => seen.push(Number(r.sequence)));
    const ended = new Promise<void>((resolve) => stream.on("error", () => resolve()));
    try {
      await waitFor(() => store.listenerCount("appended") > 0, { message: "the Tail never followed live records" });
      stream.pause();
      // Far more than a paused reader's transport buffers take: the Tail falls behind. Every third record is
      // another subject's, which the filter leaves out.
      const chunks = 30;
      const per = 1_000;
      for (let c = 0; c < chunks; c++) {
        store.append(Array.from({ length: per }, (_, i) => issued(c * per + i + 1, { jti: `j${c * per + i + 1}`, sub: i % 3 === 2 ? "other" : "s" })));
        await setImmediate();
      }
      const readWhilePaused = store.queries;
      stream.resume();
      const expected = Array.from({ length: chunks * per }, (_, i) => i + 1).filter((n) => ((n - 1) % per) % 3 !== 2);
      await waitFor(() => seen.length >= expected.length, { timeoutMs: 20_000, message: "the records did not all come" });
      // What it did not keep came from the store, read again once the reader read.
      expect(store.queries).toBeGreaterThan(readWhilePaused);
      // A live record appended after the catch-up still comes as it is appended.
      store.append([issued(chunks * per + 1, { jti: "last", sub: "s" })]);
      await waitFor(() => seen.length === expected.length + 1, { message: "the live record after the catch-up never came" });
      expect(seen).toEqual([...expected, chunks * per + 1]);
    } finally {
      stream.cancel();
      await ended;
      await api.close();
    }
  });
});

describe("Tail whose reader was away", () => {
  it("checks its credential before catching up after waiting for its reader: records appended once the token is refused are never sent", async () => {
    const store = storeWith([]);
    let revoked = false;
    const access: ReadAccess = {
      authenticate: async () => {
        if (revoked) throw new OAuthError("invalid_token", "token revoked");
        return alice;
      },
      record: async () => undefined,
    };
    const api = await serve(store, access);
    const stream = api.client.Tail({ filter: {}, after_sequence: "0" });
    const seen: number[] = [];
    stream.on("data", (r: AuditRecord__Output) => seen.push(Number(r.sequence)));
    const ended = new Promise<{ code: number; error: unknown }>((resolve) =>
      stream.on("error", (err: ServiceError) => resolve({ code: err.code, error: err.metadata.get("oauth-error")[0] })),
    );
    try {
      await waitFor(() => store.listenerCount("appended") > 0, { message: "the Tail never followed live records" });
      // Only Date is faked: the Tail's clock moves when the test says so, and nothing else waits on it.
      vi.useFakeTimers({ toFake: ["Date"] });
      stream.pause();
      // One live batch (within the live backlog) far larger than a paused reader's HTTP/2 window: the Tail writes it
      // and waits for its reader, its credential checked just before.
      const pad = "x".repeat(4096);
      const live = 400;
      store.append(Array.from({ length: live }, (_, i) => issued(i + 1, { jti: `j${i + 1}`, pad })));
      await setImmediate();
      // Meanwhile the token is revoked, well past a recheck's interval, and more than the live backlog is appended.
      revoked = true;
      vi.setSystemTime(Date.now() + 10_000);
      store.append(Array.from({ length: 1_000 }, (_, i) => issued(live + i + 1, { jti: `j${live + i + 1}` })));
      stream.resume();
      expect(await ended).toEqual({ code: status.UNAUTHENTICATED, error: "invalid_token" });
      expect(seen.filter((n) => n > live)).toEqual([]);
    } finally {
      vi.useRealTimers();
      stream.cancel();
      await api.close();
    }
  });
});

describe("Tail catching up", () => {
  const PAGE = 500;
  const pages = 40;
  /** A first record, then the trail a Tail resuming after it catches up on. */
  const trail = (): IncomingEvent[] => Array.from({ length: pages * PAGE + 1 }, (_, i) => issued(i + 1, { jti: `j${i + 1}`, sub: "s" }));

  /** Resumes after the first record: the whole trail is to catch up on. */
  const resume = { filter: {}, after_sequence: "1" };

  it("sends the whole trail in order, letting other work run between its pages", async () => {
    const store = storeWith(trail());
    let readAtNextTurn: number | undefined;
    const access: ReadAccess = {
      authenticate: async () => alice,
      // Queued as the catch-up is about to start: it runs at the event loop's next turn.
      record: async () => void globalThis.setImmediate(() => (readAtNextTurn = store.queries)),
    };
    await withTail(store, resume, { read: true, access }, async (t) => {
      await waitFor(() => t.records.length === pages * PAGE, { timeoutMs: 20_000, message: "the trail was not sent whole" });
      expect(readAtNextTurn).toBeLessThan(pages);
      expect(t.records.map((r) => Number(r.sequence))).toEqual(Array.from({ length: pages * PAGE }, (_, i) => i + 2));
    });
  });

  it("holds off while its reader does not read, and stops once the reader cancels", async () => {
    const store = storeWith(trail());
    await withTail(store, resume, { read: false }, async (t) => {
      await waitFor(() => store.queries > 0, { message: "the Tail never began catching up" });
      // As many turns of the event loop as a Tail that wrote on regardless would need for the whole trail, and on until
      // no page has been read for 20 turns (the transport's buffers full): the Tail then waits for its reader.
      for (let turn = 0, still = 0, seen = -1; turn < pages + 10 || still < 20; turn++) {
        await setImmediate();
        still = store.queries === seen ? still + 1 : 0;
        seen = store.queries;
      }
      const read = store.queries;
      expect(read).toBeLessThan(pages);
      const ended = once(store, "removeListener");
      t.cancel();
      await ended;
      expect(store.queries).toBeLessThanOrEqual(read + 1);
    });
  });

  it("checks the credential between pages: one refused mid-way ends the stream (invalid_token) before the rest is sent", async () => {
    const store = storeWith(trail());
    let checks = 0;
    const access: ReadAccess = {
      authenticate: async () => {
        // The open's check passes; the token is revoked right after.
        if (++checks > 1) throw new OAuthError("invalid_token", "token revoked");
        return alice;
      },
      record: async () => undefined,
    };
    await withTail(store, resume, { read: true, access }, async (t) => {
      expect(await t.ended).toEqual({ code: status.UNAUTHENTICATED, error: "invalid_token" });
      expect(t.records.length).toBeLessThan(pages * PAGE);
    });
  });
});

describe("bounds on the walks and streams one caller can start", () => {
  /** Each call's auditor is named by its `who` metadata; every read recorded is counted. */
  const byName = (recorded: string[]): ReadAccess => ({
    authenticate: async (metadata) => ({ credential: "access_token", sub: String(metadata.get("who")[0]), client_id: "c", jti: "j" }),
    record: async (rpc, auditor) => void recorded.push(`${rpc} ${auditor.sub}`),
  });
  const as = (who: string): Metadata => {
    const m = new Metadata();
    m.set("who", who);
    return m;
  };

  it(`refuses a Tail past ${MAX_TAILS_PER_AUDITOR} open for one auditor (temporarily_unavailable) before recording it; others still open, and a closed one frees its slot`, async () => {
    const store = storeWith([]);
    const recorded: string[] = [];
    const api = await serve(store, byName(recorded));
    const streams: Array<ReturnType<AuditServiceClient["Tail"]>> = [];
    const open = (who: string): { ended: Promise<{ code: number; error: unknown }> } => {
      const stream = api.client.Tail({ filter: {}, after_sequence: "0" }, as(who));
      streams.push(stream);
      stream.on("data", () => undefined);
      return {
        ended: new Promise((resolve) => stream.on("error", (err: ServiceError) => resolve({ code: err.code, error: err.metadata.get("oauth-error")[0] }))),
      };
    };
    try {
      const mine = Array.from({ length: MAX_TAILS_PER_AUDITOR }, () => open("alice"));
      await waitFor(() => store.listenerCount("appended") === MAX_TAILS_PER_AUDITOR, { message: "alice's Tails never opened" });
      expect(await open("alice").ended).toEqual({ code: status.UNAVAILABLE, error: "temporarily_unavailable" });
      expect(recorded.filter((r) => r === "Tail alice")).toHaveLength(MAX_TAILS_PER_AUDITOR);
      open("bob");
      await waitFor(() => store.listenerCount("appended") === MAX_TAILS_PER_AUDITOR + 1, { message: "bob's Tail never opened" });
      streams[0]?.cancel();
      expect((await mine[0]?.ended)?.code).toBe(status.CANCELLED);
      await waitFor(() => store.listenerCount("appended") === MAX_TAILS_PER_AUDITOR, { message: "the cancelled Tail never ended" });
      open("alice");
      await waitFor(() => store.listenerCount("appended") === MAX_TAILS_PER_AUDITOR + 1, { message: "alice could not open a Tail in the freed slot" });
      expect(recorded.filter((r) => r === "Tail alice")).toHaveLength(MAX_TAILS_PER_AUDITOR + 1);
    } finally {
      for (const s of streams) s.cancel();
      await api.close();
    }
  });

  it("has the Verify calls asked during a walk wait for it, then share one walk of their own; one asked after walks again", async () => {
    let walks = 0;
    /** Lets the walk under way go on; set while one is held. */
    const gate: { release?: () => void } = {};
    const releaseWalk = (): void => {
      const release = gate.release;
      delete gate.release;
      release?.();
    };
    class HeldStore extends CountingStore {
      override async verify(): ReturnType<AuditStore["verify"]> {
        walks++;
        await new Promise<void>((r) => (gate.release = r));
        return super.verify();
      }
    }
    const store = new HeldStore(join(dir, `audit-${++files}.db`));
    store.append([issued(1, { jti: "v1" })]);
    const recorded: string[] = [];
    const api = await serve(store, byName(recorded));
    const settled: string[] = [];
    const verify = (who: string): Promise<{ ok: boolean; checked: string }> =>
      new Promise((resolve, reject) =>
        api.client.Verify({}, as(who), (err, v) => {
          settled.push(who);
          return err ? reject(err) : resolve(v as { ok: boolean; checked: string });
        }),
      );
    try {
      const first = verify("alice");
      await waitFor(() => gate.release !== undefined, { message: "the first Verify never walked" });
      const during = [verify("bob"), verify("carol")];
      await waitFor(() => recorded.length === 3, { message: "the Verify calls asked during the walk were not recorded" });
      expect(walks).toBe(1);
      releaseWalk();
      expect((await first).ok).toBe(true);
      // The two asked during the first walk are not answered by it: they share the next one.
      await waitFor(() => gate.release !== undefined, { message: "the calls asked during the walk never got a walk of their own" });
      expect([walks, settled]).toEqual([2, ["alice"]]);
      releaseWalk();
      expect((await Promise.all(during)).map((a) => a.ok)).toEqual([true, true]);
      expect(walks).toBe(2);
      const later = verify("dave");
      await waitFor(() => gate.release !== undefined, { message: "the later Verify never walked" });
      releaseWalk();
      expect((await later).ok).toBe(true);
      expect(walks).toBe(3);
    } finally {
      await api.close();
    }
  });
});

/** How `tail` ended, once it has; fails with `message` when it does not. */
async function endOf(tail: { ended: Promise<TailEnd> }, message: string): Promise<TailEnd> {
  let end: TailEnd | undefined;
  void tail.ended.then((e) => (end = e));
  return waitFor(() => end, { message });
}

/** How a Tail ended: its gRPC status and OAuth error. */
interface TailEnd {
  code: number;
  error: unknown;
}

/** Opens a Tail of token.revoked records: its header metadata, and how it ended. */
function openTail(client: AuditServiceClient, after: string): { headers: Promise<Metadata>; ended: Promise<TailEnd>; cancel(): void } {
  const stream = client.Tail({ filter: { type: EVENT_TYPES.TOKEN_REVOKED }, after_sequence: after });
  const headers = new Promise<Metadata>((resolve) => stream.on("metadata", resolve));
  const ended = new Promise<TailEnd>((resolve) => {
    stream.on("error", (err: ServiceError) => resolve({ code: err.code, error: err.metadata.get("oauth-error")[0] }));
    stream.on("end", () => resolve({ code: status.OK, error: undefined }));
  });
  stream.on("data", () => undefined);
  return { headers, ended, cancel: () => stream.cancel() };
}

describe("Tail's start", () => {
  it("is sent in the header metadata: after the records held for new records only, else the sequence asked for", async () => {
    const store = storeWith([1, 2, 3].map((n) => issued(n, { jti: `j${n}`, sub: "s" })));
    const api = await serve(store);
    const fromNow = openTail(api.client, "0");
    const resumed = openTail(api.client, "2");
    try {
      // A record for them to send, once both follow live records: headers go at the latest with it.
      await waitFor(() => store.listenerCount("appended") === 2, { message: "the Tails never followed live records" });
      store.append([{ streamSequence: 4, id: "e4", type: EVENT_TYPES.TOKEN_REVOKED, time: "2025-06-01T10:31:00.000Z", source: "test", data: { jti: "j1" } }]);
      expect((await fromNow.headers).get(TAIL_AFTER_HEADER)).toEqual(["3"]);
      expect((await resumed.headers).get(TAIL_AFTER_HEADER)).toEqual(["2"]);
    } finally {
      fromNow.cancel();
      resumed.cancel();
      await api.close();
    }
  });
});

describe("the service's stop", () => {
  it("ends open Tails with temporarily_unavailable (UNAVAILABLE: open it again), and refuses new ones so before recording them", async () => {
    const store = storeWith([issued(1, { jti: "j1", sub: "s" })]);
    const stopping = new AbortController();
    const recorded: string[] = [];
    const api = await serve(store, { authenticate: async () => alice, record: async (rpc) => void recorded.push(rpc) }, { stopping: stopping.signal });
    const open = openTail(api.client, "0");
    try {
      await waitFor(() => store.listenerCount("appended") === 1, { message: "the Tail never followed live records" });
      stopping.abort();
      expect(await endOf(open, "the stop did not end the open Tail")).toEqual({ code: status.UNAVAILABLE, error: "temporarily_unavailable" });
      expect(store.listenerCount("appended")).toBe(0);
      const late = openTail(api.client, "0");
      expect(await endOf(late, "a Tail opened during the stop was taken")).toEqual({ code: status.UNAVAILABLE, error: "temporarily_unavailable" });
      expect(recorded).toEqual(["Tail"]);
    } finally {
      open.cancel();
      await api.close();
    }
  });
});
