/** sts.audit.v1.AuditService handlers over the projection. */
import type { Writable } from "node:stream";
import { setImmediate } from "node:timers/promises";
import { Metadata } from "@grpc/grpc-js";
import { OAuthError, invalidRequest } from "@sts/errors";
import { serverStream, unary } from "@sts/grpc";
import type { AuditFilter__Output, AuditRecord as WireRecord, AuditServiceHandlers } from "@sts/proto";
import type { Logger } from "@sts/telemetry";
import type { RecordAccess } from "./access-record.js";
import { MAX_ANSWER_BYTES, wireBytes } from "./answer-size.js";
import { AuditStore } from "./audit-store.js";
import type { AuditRecord, ChainCheck, RecordFilter } from "./audit-store.js";
import type { Auditor } from "./authenticate-auditor.js";
import { lineage } from "./lineage.js";
import { storedTime } from "./record-time.js";
import { TAIL_AFTER_HEADER } from "./tail-position.js";

const MAX_PAGE = 1000;
/** Records a Tail reads from the store at a time while it catches up. */
const CATCH_UP_PAGE = 500;
/**
 * How often an open Tail checks its credential again. A stream outlives the token it was opened with by at most this
 * much past the moment verification refuses it (its exp, the configured clock tolerance, a revocation).
 */
const TAIL_RECHECK_MS = 1_000;
/** Live records an open Tail keeps for a reader that is behind, before it reads them from the store instead. */
const LIVE_BACKLOG = CATCH_UP_PAGE;

/** Tails one auditor may hold open at once: each costs a listener, and a filter check on every record appended. */
export const MAX_TAILS_PER_AUDITOR = 8;
/** Tails open at once, all auditors together. */
export const MAX_TAILS = 64;

/**
 * The open Tails, counted per auditor (credential kind and subject: break-glass and anonymous callers each count as
 * one). A Tail past either bound is refused before anything is read or recorded.
 */
class TailSlots {
  readonly #byAuditor = new Map<string, number>();
  #total = 0;

  /** Takes a slot for the auditor, or throws temporarily_unavailable; the function returned gives it back. */
  take(auditor: Auditor): () => void {
    const key = `${auditor.credential}\n${auditor.sub}`;
    const held = this.#byAuditor.get(key) ?? 0;
    if (held >= MAX_TAILS_PER_AUDITOR)
      throw new OAuthError("temporarily_unavailable", `at most ${MAX_TAILS_PER_AUDITOR} Tail streams per auditor are open at once`);
    if (this.#total >= MAX_TAILS) throw new OAuthError("temporarily_unavailable", "too many Tail streams are open; retry later");
    this.#byAuditor.set(key, held + 1);
    this.#total++;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.#total--;
      const left = (this.#byAuditor.get(key) ?? 1) - 1;
      if (left > 0) this.#byAuditor.set(key, left);
      else this.#byAuditor.delete(key);
    };
  }
}

/** Converts a stored record to the wire message. */
export function toWire(r: AuditRecord): WireRecord {
  return { ...r, sequence: String(r.sequence), stream_sequence: String(r.stream_sequence) };
}

/** The bound in the records' own form, so that the store compares times as text; "" (no bound) stays "". */
function timeBound(text: string): string {
  if (!text) return "";
  const stored = storedTime(text);
  if (stored === undefined) throw invalidRequest("since and until must be RFC 3339 date-times with an offset, such as 2025-06-01T12:00:00+02:00");
  return stored;
}

function toFilter(f: AuditFilter__Output | null | undefined): RecordFilter {
  if (!f) return {};
  return { sub: f.sub, client_id: f.client_id, audience: f.audience, type: f.type, since: timeBound(f.since), until: timeBound(f.until) };
}

/** Resolves once the stream takes writes again, or once nobody is left to take them (cancelled, deadline passed, closed). */
function drained(stream: Writable, signal: AbortSignal): Promise<void> {
  if (signal.aborted || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off("drain", done);
      stream.off("close", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
    signal.addEventListener("abort", done);
  });
}

/**
 * The first records of a page that fit in MAX_ANSWER_BYTES (at least one, so that paging goes on): the page token then
 * points after the last one sent, and the next page starts there.
 */
function fittingPage(records: WireRecord[]): WireRecord[] {
  let left = MAX_ANSWER_BYTES;
  for (const [i, r] of records.entries()) {
    left -= wireBytes(r);
    if (left < 0) return records.slice(0, Math.max(1, i));
  }
  return records;
}

/** Page tokens are the last sequence returned, so paging is stable while records are added. */
function decodePage(token: string): number {
  if (!token) return 0;
  const n = Number(Buffer.from(token, "base64url").toString());
  if (!Number.isSafeInteger(n) || n < 0) throw invalidRequest("bad page_token");
  return n;
}

/** What a Tail ended by the service's stop answers: its reader opens it again, after the last record it received. */
const stoppingError = (): OAuthError =>
  new OAuthError("temporarily_unavailable", "the audit service is stopping; open the Tail again after the last record received");

/** Options of {@link auditService}. */
export interface AuditServiceOptions {
  /**
   * Aborted when the service begins to stop: open Tails end at once with temporarily_unavailable (UNAVAILABLE), which
   * their readers take as "open it again", and new ones are refused so. Left to the server's drain, a Tail (which never
   * ends by itself) would hold the stop for its whole grace and then be cut as CANCELLED, the status a reader gets when
   * it cancelled the call itself: stsctl took it for its own end and exited 0.
   */
  stopping?: AbortSignal;
}

/** Who may read, and the record of each read: every handler names its caller first and records what it asked before reading. */
export interface ReadAccess {
  /** Names the caller or refuses it (invalid_token, insufficient_scope). */
  authenticate: (metadata: Metadata) => Promise<Auditor>;
  /** Records a read durably, or throws temporarily_unavailable: nothing is read then. */
  record: RecordAccess;
}

/**
 * Builds the AuditService implementation. Records name subjects, clients and
 * scopes, so every call names its auditor and is itself recorded (an
 * `audit.accessed` event) before anything is read; bad input is refused
 * after the caller is known and reads nothing.
 */
export function auditService(store: AuditStore, logger: Logger, access: ReadAccess, options: AuditServiceOptions = {}): AuditServiceHandlers {
  const tails = new TailSlots();
  const stopping = options.stopping ?? new AbortController().signal;
  // One walk of the chain at a time. A Verify asked while one is under way waits for it to end and then shares the next
  // walk with every other Verify asked meanwhile: the answer covers the chain as it stood after the call was made
  // (the walk under way began before it, and may have passed rows changed since), at one extra walk per burst.
  let walking: Promise<ChainCheck> | undefined;
  let next: Promise<ChainCheck> | undefined;
  const walk = (): Promise<ChainCheck> => {
    if (!walking) return (walking = store.verify().finally(() => (walking = undefined)));
    return (next ??= walking
      .catch(() => undefined)
      .then(() => {
        next = undefined;
        return walk();
      }));
  };
  return {
    Query: unary(
      async (req, ctx) => {
        const auditor = await access.authenticate(ctx.metadata);
        const filter = toFilter(req.filter);
        const after = decodePage(req.page_token);
        const size = Math.min(req.page_size || 100, MAX_PAGE);
        await access.record("Query", auditor, ctx.peer, { ...filter, limit: size, after_sequence: after });
        const { records, resumeAfter } = store.page(filter, after, size + 1);
        const page = fittingPage(records.slice(0, size).map(toWire));
        // Past the last record sent when the page was cut (by its size or its bytes); else where the store stopped
        // reading, which a filter read a window at a time leaves before the end, possibly with nothing in the page.
        const next = records.length > page.length ? page[page.length - 1]?.sequence : resumeAfter;
        return { records: page, next_page_token: next === undefined ? "" : Buffer.from(String(next)).toString("base64url") };
      },
      { name: "Query", logger },
    ),

    Lineage: unary(
      async (req, ctx) => {
        const auditor = await access.authenticate(ctx.metadata);
        if (!req.jti) throw invalidRequest("jti is required");
        await access.record("Lineage", auditor, ctx.peer, { jti: req.jti });
        // Shaped for the wire as it is walked: the tree is not walked a second time to convert it.
        const l = lineage(store, req.jti, toWire, { max: MAX_ANSWER_BYTES, sizeOf: wireBytes });
        // A well-formed question about a token never recorded: NOT_FOUND, as the policy API answers for an unknown id.
        if (!l) throw new OAuthError("not_found", "no token with this jti is recorded");
        return l;
      },
      { name: "Lineage", logger },
    ),

    Verify: unary(
      async (_req, ctx) => {
        await access.record("Verify", await access.authenticate(ctx.metadata), ctx.peer, {});
        const v = await walk();
        return { ok: v.ok, checked: String(v.checked), first_bad_sequence: String(v.firstBad), reason: v.reason };
      },
      { name: "Verify", logger },
    ),

    Tail: serverStream(
      async (req, stream, ctx) => {
        const auditor = await access.authenticate(ctx.metadata);
        const filter = toFilter(req.filter);
        const from = Number(req.after_sequence) || 0;
        if (stopping.aborted) throw stoppingError();
        const giveBack = tails.take(auditor);
        try {
          await access.record("Tail", auditor, ctx.peer, { ...filter, after_sequence: from });
        } catch (err) {
          giveBack();
          throw err;
        }
        // Records appended while the Tail follows live ones, up to LIVE_BACKLOG. Past that (its reader stopped
        // reading), they are dropped here and read again from the store, page by page as the reader reads: the store
        // holds them anyway, so a stalled reader costs one page of memory, not every record appended meanwhile.
        let live: AuditRecord[] = [];
        // Catching up from the store (at the open, and after a fall behind), when live appends are not kept.
        let behind = true;
        let wake: (() => void) | undefined;
        const onAppend = (records: AuditRecord[]): void => {
          if (behind) return;
          if (live.length + records.length > LIVE_BACKLOG) {
            behind = true;
            live = [];
          } else live.push(...records);
          wake?.();
        };
        // Checked only at the open, a 5-minute token would read every new record for as long as the stream stays
        // open, past its exp and its revocation. So the open's own check is made again: exp with no tolerance beyond
        // verification's, the revocations, a break-glass secret still the configured one (it has no exp; changing it
        // means restarting the service, which ends every stream). Any other failure (revocations too stale to vouch
        // for the token: temporarily_unavailable) ends the stream too, fail closed; the auditor opens it again.
        let checkedAt = Date.now();
        const check = async (): Promise<void> => {
          try {
            await access.authenticate(ctx.metadata);
          } catch (err) {
            if (!(err instanceof OAuthError) || err.code !== "invalid_token") throw err;
            const why = `the credential this Tail was opened with is no longer accepted (${err.description}); open it again with a valid one`;
            throw new OAuthError("invalid_token", why, { cause: err });
          }
          checkedAt = Date.now();
        };
        // The reader gone, or the service stopping: either ends the stream (the second with temporarily_unavailable).
        const ended = (): boolean => ctx.cancelled || stopping.aborted;
        const leaving = AbortSignal.any([ctx.signal, stopping]);
        /** Writes records, then waits while the reader is behind: a reader that does not read holds one page, not the trail. */
        const send = async (records: readonly AuditRecord[]): Promise<void> => {
          let full = false;
          for (const r of records) full = !stream.write(toWire(r));
          if (full) await drained(stream, leaving);
        };
        store.on("appended", onAppend);
        // A reader that goes away (or a stop) ends the wait for live records at once, so its slot is free for its next Tail.
        const onAbort = (): void => wake?.();
        leaving.addEventListener("abort", onAbort);
        try {
          // In the same turn as the listener: records appended from here on are after `after`, and reach the Tail.
          let after = from === 0 ? store.size : from;
          // Where it starts, before any record: a reader whose stream ends before one matches resumes from here.
          const position = new Metadata();
          position.set(TAIL_AFTER_HEADER, from === 0 ? String(after) : req.after_sequence);
          stream.sendMetadata(position);
          while (!ended()) {
            if (behind) {
              // Catch up from the store a page at a time. In one go, a long trail blocks every other call, piles up in
              // memory behind a slow reader, and is read with no credential check however long that takes: so each
              // page waits for the reader, lets other work run, and checks the credential before the next.
              // A page may hold nothing yet not be the last (a filter read a window at a time): the catch-up ends on
              // an empty page that reached the newest record.
              let page = store.page(filter, after, CATCH_UP_PAGE);
              while ((page.records.length > 0 || page.resumeAfter !== undefined) && !ended()) {
                // A Tail that fell behind while its reader was away (waiting for it to read a live batch) comes here
                // with its last check as old as that wait: its token may have expired or been revoked meanwhile.
                if (Date.now() - checkedAt >= TAIL_RECHECK_MS) await check();
                after = page.resumeAfter ?? page.records[page.records.length - 1]?.sequence ?? after;
                await send(page.records);
                await setImmediate();
                await check();
                // A reader that left (or a stop that came) while this page waited for it is read no further page.
                if (ended()) break;
                page = store.page(filter, after, CATCH_UP_PAGE);
              }
              // In the same turn as the last (empty) page: every record appended from here on reaches `live`.
              if (page.records.length === 0 && page.resumeAfter === undefined) behind = false;
              continue;
            }
            if (live.length === 0) {
              const due = Math.max(0, checkedAt + TAIL_RECHECK_MS - Date.now());
              await new Promise<void>((r) => ((wake = r), setTimeout(r, due).unref()));
            }
            // Before anything more is written: records flow only while the last check is under TAIL_RECHECK_MS old.
            if (Date.now() - checkedAt >= TAIL_RECHECK_MS) await check();
            // Fallen behind meanwhile: what `live` held is dropped, and the store has it after `after`.
            if (behind) continue;
            // `after` moves before the wait for the reader: a fall behind during it catches up from past these.
            const records = live;
            live = [];
            after = records[records.length - 1]?.sequence ?? after;
            await send(records.filter((r) => AuditStore.matches(r, filter)));
          }
          if (stopping.aborted && !ctx.cancelled) throw stoppingError();
        } finally {
          store.off("appended", onAppend);
          leaving.removeEventListener("abort", onAbort);
          giveBack();
        }
      },
      { name: "Tail", logger },
    ),
  };
}
