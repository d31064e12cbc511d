#!/usr/bin/env node
/**
 * stsctl: the operators' and auditors' command line.
 *
 *   stsctl audit query   [--sub S] [--client C] [--aud A] [--type T] [--since T] [--until T] [--limit N] [--json]
 *   stsctl audit tail    [same filters] [--from-seq N] [--json]
 *   stsctl audit lineage <jti> [--json]
 *   stsctl audit verify  [--json]
 *
 * --addr host:port (or STS_AUDIT_ADDR) selects the audit service (default 127.0.0.1:50054).
 * --tls-ca, --tls-cert, --tls-key (or STS_GRPC_TLS_CA_FILE, _CERT_FILE, _KEY_FILE)
 * reach a stack that runs with grpc_tls.
 *
 * The credential: an auditor's own access token (audience audit.api_audience,
 * scope audit.api_scope, e.g. from the gateway's client_credentials grant),
 * from STS_AUDIT_ACCESS_TOKEN or --access-token-file F; each read is then
 * recorded under the auditor's name. Without one, STS_AUDIT_TOKEN, the shared
 * break-glass credential, recorded as such. Never a token on the command line:
 * it would stay in shell history and process listings.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Metadata, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { grpcCredentials } from "@sts/grpc";
import { loadAuditProto } from "@sts/proto";
import type { AuditRecord__Output, LineageNode__Output, LineageResponse__Output, QueryResponse__Output, VerifyResponse__Output } from "@sts/proto";

/** A jti is base64url and may begin with "-": the argument after `lineage` is the jti unless it is an option we know. */
function jtiAsPositional(argv: string[]): string[] {
  const at = argv[0] === "audit" && argv[1] === "lineage" ? 2 : -1;
  const jti = argv[at];
  if (at < 0 || jti === undefined || jti.startsWith("--") || jti === "-h" || !jti.startsWith("-")) return argv;
  return [...argv.slice(0, at), ...argv.slice(at + 1), "--", jti];
}

const { values, positionals } = parseArgs({
  args: jtiAsPositional(process.argv.slice(2)),
  allowPositionals: true,
  options: {
    addr: { type: "string" },
    json: { type: "boolean", default: false },
    sub: { type: "string" },
    client: { type: "string" },
    aud: { type: "string" },
    type: { type: "string" },
    since: { type: "string" },
    until: { type: "string" },
    limit: { type: "string" },
    "from-seq": { type: "string" },
    "tls-ca": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "access-token-file": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

const usage = [
  "usage: stsctl audit <query|tail|lineage <jti>|verify> [--addr host:port] [--tls-ca F --tls-cert F --tls-key F] [--access-token-file F] [--json] [--sub S] [--client C] [--aud A] [--type T] [--since T] [--until T] [--limit N] [--from-seq N]",
  "credential: an auditor's access token from STS_AUDIT_ACCESS_TOKEN or --access-token-file F (each read recorded under its name),",
  "            else the break-glass STS_AUDIT_TOKEN (recorded as break-glass); audit.accessed records who read what (--type audit.accessed)",
].join("\n");
const [group, command, arg] = positionals;
if (values.help || group !== "audit" || !command) {
  console.log(usage);
  process.exit(values.help ? 0 : 2);
}

const address = values.addr ?? process.env.STS_AUDIT_ADDR ?? "127.0.0.1:50054";
const tls = {
  ca_file: values["tls-ca"] ?? process.env.STS_GRPC_TLS_CA_FILE,
  cert_file: values["tls-cert"] ?? process.env.STS_GRPC_TLS_CERT_FILE,
  key_file: values["tls-key"] ?? process.env.STS_GRPC_TLS_KEY_FILE,
};
const tlsGiven = Object.values(tls).filter(Boolean).length;
if (tlsGiven !== 0 && tlsGiven !== 3) {
  console.error("stsctl: TLS needs all three of --tls-ca, --tls-cert and --tls-key");
  process.exit(2);
}
const channel = (() => {
  const files = tls.ca_file && tls.cert_file && tls.key_file ? { ca_file: tls.ca_file, cert_file: tls.cert_file, key_file: tls.key_file } : undefined;
  try {
    // No files: plaintext, as grpcCredentials answers for a stack without grpc_tls.
    return grpcCredentials(files && { ...files, require_client_cert: true }).channelTo();
  } catch (err) {
    console.error(`stsctl: ${(err as Error).message}`);
    return process.exit(2);
  }
})();
const client = new (loadAuditProto().sts.audit.v1.AuditService)(address, channel);
/** The auditor's own access token, when given; the break-glass credential only without one. */
const credential = ((): string | undefined => {
  const file = values["access-token-file"];
  if (file === undefined) return process.env.STS_AUDIT_ACCESS_TOKEN?.trim() || process.env.STS_AUDIT_TOKEN || undefined;
  let token = "";
  try {
    token = readFileSync(file, "utf8").trim();
  } catch (err) {
    console.error(`stsctl: cannot read the access token file: ${(err as Error).message}`);
    return process.exit(2);
  }
  if (!token) {
    console.error("stsctl: the access token file is empty");
    return process.exit(2);
  }
  return token;
})();
/** The credential on every call, when there is one. */
function auditorMetadata(): Metadata {
  const metadata = new Metadata();
  if (credential) metadata.set("authorization", `Bearer ${credential}`);
  return metadata;
}
const filter = { sub: values.sub, client_id: values.client, audience: values.aud, type: values.type, since: values.since, until: values.until };

function line(r: AuditRecord__Output): string {
  const who = r.actors.length > 0 ? ` act=${r.actors.join("<")}` : "";
  const what = r.jti ? ` jti=${r.jti}${r.parent_jti ? ` parent=${r.parent_jti}` : ""}` : "";
  const aud = r.aud.length > 0 ? ` aud=${r.aud.join(",")}` : "";
  const scope = r.scope ? ` scope="${r.scope}"` : "";
  return `#${r.sequence} ${r.time} ${r.type.padEnd(16)} sub=${r.sub || "-"} client=${r.client_id || "-"}${aud}${scope}${who}${what}`;
}

function fail(err: ServiceError): never {
  console.error(`stsctl: ${err.details || err.message}`);
  process.exit(1);
}

function unaryCall<T>(method: string, request: object): Promise<T> {
  return new Promise((resolve) => {
    (client as unknown as Record<string, (r: object, m: Metadata, cb: (e: ServiceError | null, v?: T) => void) => void>)[method]?.call(
      client,
      request,
      auditorMetadata(),
      (err, value) => (err ? fail(err) : resolve(value as T)),
    );
  });
}

function printTree(nodes: LineageNode__Output[], indent: string): void {
  for (const n of nodes) {
    if (n.record) console.log(`${indent}└─ ${line(n.record)}`);
    printTree(n.children, `${indent}   `);
  }
}

switch (command) {
  case "query": {
    let page = "";
    let left = Number(values.limit ?? 100);
    do {
      const r = await unaryCall<QueryResponse__Output>("Query", { filter, page_size: Math.min(left, 1000), page_token: page });
      for (const rec of r.records) console.log(values.json ? JSON.stringify(rec) : line(rec));
      left -= r.records.length;
      page = r.next_page_token;
    } while (page && left > 0);
    break;
  }
  case "tail": {
    const stream = client.Tail({ filter, after_sequence: values["from-seq"] ?? "0" }, auditorMetadata());
    stream.on("data", (rec: AuditRecord__Output) => console.log(values.json ? JSON.stringify(rec) : line(rec)));
    stream.on("error", (err: ServiceError) => (Number(err.code) === Number(status.CANCELLED) ? process.exit(0) : fail(err)));
    process.on("SIGINT", () => stream.cancel());
    await new Promise(() => undefined);
    break;
  }
  case "lineage": {
    if (!arg) {
      console.error("stsctl: lineage needs a jti");
      process.exit(2);
    }
    const r = await unaryCall<LineageResponse__Output>("Lineage", { jti: arg });
    if (values.json) console.log(JSON.stringify(r, null, 2));
    else {
      console.log("origin, oldest first:");
      for (const a of [...r.ancestors].reverse()) console.log(`   ${line(a)}`);
      if (r.token) console.log(`=> ${line(r.token)}`);
      console.log("made from it:");
      printTree(r.descendants, "   ");
    }
    break;
  }
  case "verify": {
    const r = await unaryCall<VerifyResponse__Output>("Verify", {});
    if (values.json) console.log(JSON.stringify(r));
    else console.log(r.ok ? `chain intact: ${r.checked} records` : `chain BROKEN at record #${r.first_bad_sequence}: ${r.reason} (${r.checked} checked)`);
    process.exitCode = r.ok ? 0 : 3;
    break;
  }
  default:
    console.log(usage);
    process.exitCode = 2;
}
client.close();
