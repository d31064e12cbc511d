/** sts.audit.v1.AuditService handlers over the projection. */
import type { Metadata } from "@grpc/grpc-js";
import { OAuthError, invalidRequest } from "@sts/errors";
import { serverStream, unary } from "@sts/grpc";
import type { AuditFilter__Output, AuditRecord as WireRecord, AuditServiceHandlers, LineageNode } from "@sts/proto";
import type { Logger } from "@sts/telemetry";
import type { RecordAccess } from "./access-record.js";
import { AuditStore } from "./audit-store.js";
import type { AuditRecord, RecordFilter } from "./audit-store.js";
import type { Auditor } from "./authenticate-auditor.js";
import { lineage } from "./lineage.js";
import type { LineageTree } from "./lineage.js";

const MAX_PAGE = 1000;
/**
 * How often an open Tail checks its credential again. A stream outlives the token it was opened with by at most this
 * much past the moment verification refuses it (its exp, the configured clock tolerance, a revocation).
 */
const TAIL_RECHECK_MS = 1_000;

/** Converts a stored record to the wire message. */
export function toWire(r: AuditRecord): WireRecord {
  return { ...r, sequence: String(r.sequence), stream_sequence: String(r.stream_sequence) };
}

function toFilter(f: AuditFilter__Output | null | undefined): RecordFilter {
  if (!f) return {};
  for (const t of [f.since, f.until]) if (t && Number.isNaN(Date.parse(t))) throw invalidRequest("since and until must be RFC 3339 times");
  return { sub: f.sub, client_id: f.client_id, audience: f.audience, type: f.type, since: f.since, until: f.until };
}

function tree(t: LineageTree): LineageNode {
  return { record: toWire(t.record), children: t.children.map(tree) };
}

/** Page tokens are the last sequence returned, so paging is stable while records are added. */
function decodePage(token: string): number {
  if (!token) return 0;
  const n = Number(Buffer.from(token, "base64url").toString());
  if (!Number.isSafeInteger(n) || n < 0) throw invalidRequest("bad page_token");
  return n;
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
export function auditService(store: AuditStore, logger: Logger, access: ReadAccess): AuditServiceHandlers {
  return {
    Query: unary(
      async (req, ctx) => {
        const auditor = await access.authenticate(ctx.metadata);
        const filter = toFilter(req.filter);
        const after = decodePage(req.page_token);
        const size = Math.min(req.page_size || 100, MAX_PAGE);
        await access.record("Query", auditor, ctx.peer, { ...filter, limit: size, after_sequence: after });
        const records = store.query(filter, after, size + 1);
        const page = records.slice(0, size);
        const more = records.length > size;
        return { records: page.map(toWire), next_page_token: more ? Buffer.from(String(page[page.length - 1]?.sequence ?? 0)).toString("base64url") : "" };
      },
      { name: "Query", logger },
    ),

    Lineage: unary(
      async (req, ctx) => {
        const auditor = await access.authenticate(ctx.metadata);
        if (!req.jti) throw invalidRequest("jti is required");
        await access.record("Lineage", auditor, ctx.peer, { jti: req.jti });
        const l = lineage(store, req.jti);
        if (!l) throw invalidRequest("no token with this jti is recorded");
        return { token: toWire(l.token), ancestors: l.ancestors.map(toWire), descendants: l.descendants.map(tree) };
      },
      { name: "Lineage", logger },
    ),

    Verify: unary(
      async (_req, ctx) => {
        await access.record("Verify", await access.authenticate(ctx.metadata), ctx.peer, {});
        const v = store.verify();
        return { ok: v.ok, checked: String(v.checked), first_bad_sequence: String(v.firstBad), reason: v.reason };
      },
      { name: "Verify", logger },
    ),

    Tail: serverStream(
      async (req, stream, ctx) => {
        const auditor = await access.authenticate(ctx.metadata);
        const filter = toFilter(req.filter);
        let after = Number(req.after_sequence) || 0;
        await access.record("Tail", auditor, ctx.peer, { ...filter, after_sequence: after });
        const live: AuditRecord[] = [];
        let wake: (() => void) | undefined;
        const onAppend = (records: AuditRecord[]): void => {
          live.push(...records);
          wake?.();
        };
        // Checked only at the open, a 5-minute token would read every new record for as long as the stream stays
        // open, past its exp and its revocation. So the open's own check is made again: exp with no tolerance beyond
        // verification's, the revocations, a break-glass secret still the configured one (it has no exp; changing it
        // means restarting the service, which ends every stream). Any other failure (revocations too stale to vouch
        // for the token: temporarily_unavailable) ends the stream too, fail closed; the auditor opens it again.
        let checkedAt = Date.now();
        const recheck = async (): Promise<void> => {
          if (Date.now() - checkedAt < TAIL_RECHECK_MS) return;
          try {
            await access.authenticate(ctx.metadata);
          } catch (err) {
            if (!(err instanceof OAuthError) || err.code !== "invalid_token") throw err;
            const why = `the credential this Tail was opened with is no longer accepted (${err.description}); open it again with a valid one`;
            throw new OAuthError("invalid_token", why, { cause: err });
          }
          checkedAt = Date.now();
        };
        store.on("appended", onAppend);
        try {
          if (after === 0) after = store.size;
          // Catch up from the store, then follow live appends (deduplicated by sequence).
          for (let page = store.query(filter, after, 500); page.length > 0; page = store.query(filter, after, 500)) {
            for (const r of page) stream.write(toWire(r));
            after = page[page.length - 1]?.sequence ?? after;
          }
          while (!ctx.signal.aborted && !stream.cancelled) {
            if (live.length === 0) {
              const due = Math.max(0, checkedAt + TAIL_RECHECK_MS - Date.now());
              await new Promise<void>((r) => ((wake = r), setTimeout(r, due).unref()));
            }
            // Before anything more is written: records flow only while the last check is under TAIL_RECHECK_MS old.
            await recheck();
            for (const r of live.splice(0)) {
              if (r.sequence <= after) continue;
              after = r.sequence;
              if (AuditStore.matches(r, filter)) stream.write(toWire(r));
            }
          }
        } finally {
          store.off("appended", onAppend);
        }
      },
      { name: "Tail", logger },
    ),
  };
}
