/** `stsctl audit …`: query, tail, lineage and verify against the audit API. */
import type { ChannelCredentials, Metadata } from "@grpc/grpc-js";
import { escapeUnshown } from "@sts/errors";
import { loadAuditProto } from "@sts/proto";
import type { AuditRecord__Output, LineageNode__Output, LineageResponse__Output, QueryResponse__Output, VerifyResponse__Output } from "@sts/proto";
import { unaryCall } from "./cli-connection.js";
import { UsageError } from "./cli-credential.js";
import { followTail } from "./cli-tail.js";
import { sequenceText } from "./tail-position.js";

/** The audit commands. */
export const AUDIT_COMMANDS = ["query", "tail", "lineage", "verify"] as const;

/** `audit verify` walks the whole trail in one call: longer than any other answer may take, still not for ever. */
const VERIFY_DEADLINE_MS = 15 * 60_000;

/** What an audit command takes from the command line. */
export interface AuditArgs {
  json: boolean;
  filter: { sub?: string; client_id?: string; audience?: string; type?: string; since?: string; until?: string };
  /** Most records `query` prints (default 100). */
  limit?: number;
  /** The sequence `tail` starts after, as the service numbers records (a uint64, kept as text). */
  fromSeq?: string;
}

/**
 * `--limit` and `--from-seq` as numbers, refused as a usage error unless they are plain decimal digits: a negative
 * limit would otherwise wrap to the service's largest page, and `abc` quietly become the default.
 */
export function parseCounts(limit: string | undefined, fromSeq: string | undefined): Pick<AuditArgs, "limit" | "fromSeq"> {
  if (limit !== undefined && (sequenceText(limit) === undefined || Number(limit) < 1))
    throw new UsageError("--limit takes a whole number of records, 1 or more");
  const seq = fromSeq === undefined ? undefined : sequenceText(fromSeq);
  if (fromSeq !== undefined && seq === undefined) throw new UsageError("--from-seq takes a record sequence: a whole number, 0 or more");
  return { ...(limit !== undefined && { limit: Number(limit) }), ...(seq !== undefined && { fromSeq: seq }) };
}

/** The admin client that asked for a dedicated-issuer token (its event's `admin_client_id`), if one did. */
function adminOf(r: AuditRecord__Output): string | undefined {
  try {
    const admin = (JSON.parse(r.data_json) as { admin_client_id?: unknown }).admin_client_id;
    return typeof admin === "string" ? admin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One record on one line: who, what, for whom, and the admin that asked when it was not the client itself. Shown for
 * policy.updated too, whose sub, client and jti name the operator.
 */
export function recordLine(r: AuditRecord__Output): string {
  const admin = adminOf(r);
  const who = `${admin ? ` admin=${escapeUnshown(admin)}` : ""}${r.actors.length > 0 ? ` act=${escapeUnshown(r.actors.join("<"))}` : ""}`;
  const what = r.jti ? ` jti=${escapeUnshown(r.jti)}${r.parent_jti ? ` parent=${escapeUnshown(r.parent_jti)}` : ""}` : "";
  const aud = r.aud.length > 0 ? ` aud=${escapeUnshown(r.aud.join(","))}` : "";
  const scope = r.scope ? ` scope="${escapeUnshown(r.scope)}"` : "";
  const [time, type, sub, client] = [r.time, r.type.padEnd(16), r.sub || "-", r.client_id || "-"].map(escapeUnshown);
  return `#${r.sequence} ${time} ${type} sub=${sub} client=${client}${aud}${scope}${who}${what}`;
}

function printTree(nodes: LineageNode__Output[], indent: string, out: (line: string) => void): void {
  for (const n of nodes) {
    if (n.record) out(`${indent}└─ ${recordLine(n.record)}`);
    printTree(n.children, `${indent}   `, out);
    if (n.more) out(`${indent}   … more: stsctl audit lineage ${escapeUnshown(n.record?.jti ?? "")}`);
  }
}

/** A Lineage answer as the lines `stsctl audit lineage` prints, saying where the answer left tokens out. */
export function lineageLines(r: LineageResponse__Output): string[] {
  const lines: string[] = [];
  const out = (line: string): number => lines.push(line);
  out("origin, oldest first:");
  const oldest = r.ancestors[r.ancestors.length - 1];
  if (r.truncated && oldest?.parent_jti) out(`   … older ancestors left out: stsctl audit lineage ${escapeUnshown(oldest.jti)}`);
  for (const x of [...r.ancestors].reverse()) out(`   ${recordLine(x)}`);
  if (r.token) out(`=> ${recordLine(r.token)}`);
  out("made from it:");
  printTree(r.descendants, "   ", out);
  return lines;
}

/**
 * Runs one audit command, printing through `out` and what happens to a Tail's stream through `note` (stderr); resolves
 * with the exit code (a Tail runs until SIGINT, or `interrupt`).
 */
export async function runAudit(
  command: string,
  arg: string | undefined,
  a: AuditArgs,
  address: string,
  channel: ChannelCredentials,
  metadata: () => Metadata,
  out: (line: string) => void,
  note: (line: string) => void = () => undefined,
  interrupt?: AbortSignal,
): Promise<number> {
  const client = new (loadAuditProto().sts.audit.v1.AuditService)(address, channel);
  const print = (r: AuditRecord__Output): void => out(a.json ? JSON.stringify(r) : recordLine(r));
  try {
    switch (command) {
      case "query": {
        let page = "";
        let left = a.limit ?? 100;
        do {
          const r = await unaryCall<QueryResponse__Output>(
            client,
            "Query",
            { filter: a.filter, page_size: Math.min(left, 1000), page_token: page },
            metadata(),
          );
          r.records.forEach(print);
          left -= r.records.length;
          page = r.next_page_token;
        } while (page && left > 0);
        return 0;
      }
      case "tail":
        return await followTail(client, a, metadata, { print, note }, interrupt);
      case "lineage": {
        if (!arg) throw new UsageError("lineage needs a jti");
        const r = await unaryCall<LineageResponse__Output>(client, "Lineage", { jti: arg }, metadata());
        if (a.json) out(JSON.stringify(r, null, 2));
        else lineageLines(r).forEach((line) => out(line));
        return 0;
      }
      case "verify": {
        const r = await unaryCall<VerifyResponse__Output>(client, "Verify", {}, metadata(), VERIFY_DEADLINE_MS);
        if (a.json) out(JSON.stringify(r));
        else out(r.ok ? `chain intact: ${r.checked} records` : `chain BROKEN at record #${r.first_bad_sequence}: ${r.reason} (${r.checked} checked)`);
        return r.ok ? 0 : 3;
      }
      default:
        throw new UsageError(`unknown audit command ${command}`);
    }
  } finally {
    client.close();
  }
}
