#!/usr/bin/env node
/**
 * stsctl: the operators' and auditors' command line.
 *
 *   stsctl audit query   [--sub S] [--client C] [--aud A] [--type T] [--since T] [--until T] [--limit N] [--json]
 *   stsctl audit tail    [same filters] [--from-seq N] [--json]   (stderr: where it follows from; it goes on across restarts)
 *   stsctl audit lineage <jti> [--json]
 *   stsctl audit verify  [--json]
 *   stsctl policy list   [--json]
 *   stsctl policy get    <id> [--json]
 *   stsctl policy put    <id> --file F [--description D] [--expected-revision N]
 *   stsctl policy delete <id>
 *   stsctl policy reset  <id> [--expected-revision N] [--json]
 *   stsctl policy check  --client C --aud A --sub S [--scope "S…"] [--subject-client C] [--iss I] [--subject-scope "S…"]
 *                        [--subject-aud "A…"] [--actor A]… [--depth N] [--candidate <id> --file F | --without <id>] [--json]
 *   stsctl subject revoke --iss I --sub S [--reason R] [--json]
 *   stsctl keys list     [--json]
 *   stsctl keys rotate   [--json]
 *   stsctl keys withdraw <kid> --reason R [--json]
 *
 * --addr host:port selects the service (or STS_AUDIT_ADDR, default
 * 127.0.0.1:50054; STS_POLICY_ADDR, default 127.0.0.1:50053; STS_ISSUER_ADDR,
 * default 127.0.0.1:50051).
 * --tls-ca, --tls-cert, --tls-key (or STS_GRPC_TLS_CA_FILE, _CERT_FILE, _KEY_FILE)
 * reach a stack that runs with grpc_tls.
 *
 * The credential: the person's own access token, from --access-token-file F
 * or STS_AUDIT_ACCESS_TOKEN (an auditor's: audience audit.api_audience, scope
 * audit.api_scope) or STS_POLICY_ACCESS_TOKEN (an operator's: audience
 * policy.api_audience, scope policy.read_scope or policy.write_scope) or
 * STS_ISSUER_ACCESS_TOKEN (an operator's: audience issuer_admin.api_audience,
 * scope issuer_admin.revoke_subjects_scope for subject, read_keys_scope or
 * manage_keys_scope for keys), e.g.
 * from the gateway's client_credentials grant; each read and each change is
 * then recorded under that name. Without one, the API's break-glass secret
 * (STS_AUDIT_TOKEN, STS_POLICY_ADMIN_TOKEN), recorded as such; the issuer
 * has none.
 */
import { parseArgs } from "node:util";
import type { ServiceError } from "@grpc/grpc-js";
import { AUDIT_COMMANDS, parseCounts, runAudit } from "./cli-audit.js";
import { channelCredentials } from "./cli-connection.js";
import { UsageError, bearerCredential, bearerMetadata } from "./cli-credential.js";
import type { CredentialSources } from "./cli-credential.js";
import { POLICY_COMMANDS, runPolicy } from "./cli-policy.js";
import { SUBJECT_COMMANDS, runSubject } from "./cli-subject.js";
import { KEYS_COMMANDS, runKeys } from "./cli-keys.js";
import { runHashSecret } from "./cli-hash-secret.js";

/** Each command group: its commands, those taking an id as their argument, where its service is, and its credentials. */
const GROUPS = {
  audit: {
    commands: AUDIT_COMMANDS as readonly string[],
    takesId: ["lineage"],
    address: () => process.env.STS_AUDIT_ADDR ?? "127.0.0.1:50054",
    credentials: { accessToken: "STS_AUDIT_ACCESS_TOKEN", breakGlass: "STS_AUDIT_TOKEN" } satisfies CredentialSources,
  },
  policy: {
    commands: POLICY_COMMANDS as readonly string[],
    takesId: ["get", "put", "delete", "reset"],
    address: () => process.env.STS_POLICY_ADDR ?? "127.0.0.1:50053",
    credentials: { accessToken: "STS_POLICY_ACCESS_TOKEN", breakGlass: "STS_POLICY_ADMIN_TOKEN" } satisfies CredentialSources,
  },
  subject: {
    commands: SUBJECT_COMMANDS as readonly string[],
    takesId: [],
    address: () => process.env.STS_ISSUER_ADDR ?? "127.0.0.1:50051",
    credentials: { accessToken: "STS_ISSUER_ACCESS_TOKEN" } satisfies CredentialSources,
  },
  keys: {
    commands: KEYS_COMMANDS as readonly string[],
    // A kid is base64url: it may begin with "-".
    takesId: ["withdraw"],
    address: () => process.env.STS_ISSUER_ADDR ?? "127.0.0.1:50051",
    credentials: { accessToken: "STS_ISSUER_ACCESS_TOKEN" } satisfies CredentialSources,
  },
} as const;

type GroupName = keyof typeof GROUPS;
const isGroup = (name: string | undefined): name is GroupName => name !== undefined && Object.hasOwn(GROUPS, name);

/** A jti or a policy id may begin with "-": the argument after a command that takes one is it, unless it is an option we know. */
function idAsPositional(argv: string[]): string[] {
  const [group, command, id] = argv;
  const takesId: readonly string[] = isGroup(group) ? GROUPS[group].takesId : [];
  if (command === undefined || !takesId.includes(command) || id === undefined || id.startsWith("--") || id === "-h" || !id.startsWith("-")) return argv;
  return [...argv.slice(0, 2), ...argv.slice(3), "--", id];
}

const usage = [
  "usage: stsctl audit <query|tail|lineage <jti>|verify> [--addr host:port] [--tls-ca F --tls-cert F --tls-key F] [--access-token-file F] [--json] [--sub S] [--client C] [--aud A] [--type T] [--since T] [--until T] [--limit N] [--from-seq N]",
  "       stsctl policy <list|get <id>|put <id> --file F [--description D] [--expected-revision N]|delete <id>|reset <id> [--expected-revision N]> [--addr host:port] [--tls-ca F --tls-cert F --tls-key F] [--access-token-file F] [--json]",
  '       stsctl policy check --client C --aud A --sub S [--scope "S…"] [--subject-client C] [--iss I] [--subject-scope "S…"] [--subject-aud "A…"] [--actor A]… [--depth N]',
  "                           [--candidate <id> --file F | --without <id>] [...]   (what-if: exit 0 allow, 4 deny; changes nothing)",
  "       stsctl subject revoke --iss I --sub S [--reason R] [--addr host:port] [--tls-ca F --tls-cert F --tls-key F] [--access-token-file F] [--json]",
  "       stsctl keys <list|rotate|withdraw <kid> --reason R> [--addr host:port] [--tls-ca F --tls-cert F --tls-key F] [--access-token-file F] [--json]",
  "       stsctl hash-secret < secret-file     (prints the client_secret_hash of the secret on standard input)",
  "credential: your access token from STS_AUDIT_ACCESS_TOKEN (auditors), STS_POLICY_ACCESS_TOKEN (policy operators) or STS_ISSUER_ACCESS_TOKEN",
  "            (subject revocation, signing keys), or --access-token-file F, each read and change recorded under its name; else the break-glass",
  "            STS_AUDIT_TOKEN or STS_POLICY_ADMIN_TOKEN (recorded as break-glass).",
  "            audit.accessed records who read what (--type audit.accessed), policy.updated who changed which policy (--type policy.updated),",
  "            subject.revoked who signed out which subject (--type subject.revoked), key.rotated and key.withdrawn who changed",
  "            which signing key (--type key.withdrawn)",
].join("\n");

/** The command line, parsed; a mistake in it is a UsageError. */
function parseCommandLine() {
  try {
    return parseCommandLineOrThrow();
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function parseCommandLineOrThrow() {
  return parseArgs({
    args: idAsPositional(process.argv.slice(2)),
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
      file: { type: "string" },
      description: { type: "string" },
      "expected-revision": { type: "string" },
      "tls-ca": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "access-token-file": { type: "string" },
      iss: { type: "string" },
      reason: { type: "string" },
      scope: { type: "string" },
      "subject-client": { type: "string" },
      "subject-scope": { type: "string" },
      "subject-aud": { type: "string" },
      actor: { type: "string", multiple: true, default: [] },
      depth: { type: "string" },
      candidate: { type: "string" },
      without: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine();
  const [groupName, command, arg] = positionals;
  // Local only: no service, no credential.
  if (groupName === "hash-secret" && command === undefined && !values.help) return runHashSecret(process.stdin, (line) => console.log(line));
  const group = isGroup(groupName) ? GROUPS[groupName] : undefined;
  if (values.help || !group || !command || !group.commands.includes(command)) {
    console.log(usage);
    return values.help ? 0 : 2;
  }
  const channel = channelCredentials({
    ca_file: values["tls-ca"] ?? process.env.STS_GRPC_TLS_CA_FILE,
    cert_file: values["tls-cert"] ?? process.env.STS_GRPC_TLS_CERT_FILE,
    key_file: values["tls-key"] ?? process.env.STS_GRPC_TLS_KEY_FILE,
  });
  const credential = bearerCredential(values["access-token-file"], process.env, group.credentials);
  const metadata = () => bearerMetadata(credential);
  const address = values.addr ?? group.address();
  const out = (line: string): void => console.log(line);
  if (groupName === "keys") return runKeys(command, arg, { json: values.json, reason: values.reason }, address, channel, metadata, out);
  if (groupName === "subject")
    return runSubject(command, { json: values.json, iss: values.iss, sub: values.sub, reason: values.reason }, address, channel, metadata, out);
  if (groupName === "policy") {
    const check = {
      client: values.client,
      audience: values.aud,
      scope: values.scope,
      sub: values.sub,
      subjectClient: values["subject-client"],
      iss: values.iss,
      subjectScope: values["subject-scope"],
      subjectAudience: values["subject-aud"],
      actors: values.actor,
      depth: values.depth,
      candidate: values.candidate,
      without: values.without,
    };
    const policyArgs = { json: values.json, file: values.file, description: values.description, expectedRevision: values["expected-revision"], check };
    return runPolicy(command, arg, policyArgs, address, channel, metadata, out);
  }
  const filter = { sub: values.sub, client_id: values.client, audience: values.aud, type: values.type, since: values.since, until: values.until };
  const note = (line: string): void => console.error(line);
  return runAudit(command, arg, { json: values.json, filter, ...parseCounts(values.limit, values["from-seq"]) }, address, channel, metadata, out, note);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`stsctl: ${err.message}`);
      process.exitCode = 2;
    } else if (typeof err === "object" && err !== null && "code" in err && "details" in err) {
      const e = err as ServiceError;
      console.error(`stsctl: ${e.details || e.message}`);
      process.exitCode = 1;
    } else {
      console.error(`stsctl: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    }
  },
);
