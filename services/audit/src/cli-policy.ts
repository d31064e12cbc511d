/** `stsctl policy …`: list, get, put, delete and reset policies through the policy API, as an operator. */
import { readFileSync } from "node:fs";
import type { ChannelCredentials, Metadata } from "@grpc/grpc-js";
import { loadPolicyProto } from "@sts/proto";
import type { ListResponse__Output, Policy__Output, PutResponse__Output, ResetResponse__Output } from "@sts/proto";
import { unaryCall } from "./cli-connection.js";
import { UsageError } from "./cli-credential.js";

/** The policy commands. */
export const POLICY_COMMANDS = ["list", "get", "put", "delete", "reset"] as const;

/** What a policy command takes from the command line. */
export interface PolicyArgs {
  json: boolean;
  /** put: the Cedar text's file. */
  file?: string;
  /** put: the policy's description. */
  description?: string;
  /** put, reset: write only if the stored revision is still this one. */
  expectedRevision?: string;
}

/** --expected-revision as the API takes it: "0" (none) when absent. */
function expectedRevision(a: PolicyArgs): string {
  if (a.expectedRevision === undefined) return "0";
  if (!/^\d{1,19}$/.test(a.expectedRevision)) throw new UsageError("--expected-revision takes a revision number");
  return a.expectedRevision;
}

/** What a reset did, in words. */
function resetLine(id: string, r: ResetResponse__Output): string {
  return r.changed
    ? `policy ${id} handed back to the config file at revision ${r.revision}`
    : `policy ${id} already is the config file's version (revision ${r.revision}); nothing written`;
}

/** Who wrote a version: the operator's sub, client and jti, "break-glass", or "-" for a policy seeded from the config. */
function authorOf(p: Policy__Output): string {
  const a = p.author;
  if (!a) return "by=-";
  return `by=${a.sub || "-"} client=${a.client_id || "-"} jti=${a.jti || "-"} (${a.credential})`;
}

/** One policy on one line: id, revision, who manages it (config or api), author, description. */
export function policyLine(p: Policy__Output): string {
  return `${p.id} rev=${p.revision} source=${p.source || "-"} ${authorOf(p)}${p.description ? ` "${p.description}"` : ""}`;
}

/** Runs one policy command, printing through `out`; resolves with the exit code. */
export async function runPolicy(
  command: string,
  id: string | undefined,
  a: PolicyArgs,
  address: string,
  channel: ChannelCredentials,
  metadata: () => Metadata,
  out: (line: string) => void,
): Promise<number> {
  if (command !== "list" && !id) throw new UsageError(`${command} needs a policy id`);
  const client = new (loadPolicyProto().sts.policy.v1.PolicyService)(address, channel);
  try {
    switch (command) {
      case "list": {
        const r = await unaryCall<ListResponse__Output>(client, "List", {}, metadata());
        for (const p of r.policies) out(a.json ? JSON.stringify(p) : policyLine(p));
        return 0;
      }
      case "get": {
        const p = await unaryCall<Policy__Output>(client, "Get", { id }, metadata());
        out(a.json ? JSON.stringify(p) : `${policyLine(p)}\n${p.text}`);
        return 0;
      }
      case "put": {
        if (!a.file) throw new UsageError("put needs --file with the Cedar policy text");
        let text: string;
        try {
          text = readFileSync(a.file, "utf8");
        } catch (err) {
          throw new UsageError(`cannot read the policy file: ${(err as Error).message}`);
        }
        const policy = { id, text, description: a.description ?? "" };
        const r = await unaryCall<PutResponse__Output>(client, "Put", { policy, expected_revision: expectedRevision(a) }, metadata());
        out(a.json ? JSON.stringify(r) : `policy ${id} written at revision ${r.revision}`);
        return 0;
      }
      case "delete": {
        await unaryCall(client, "Delete", { id }, metadata());
        out(`policy ${id} deleted`);
        return 0;
      }
      case "reset": {
        const r = await unaryCall<ResetResponse__Output>(client, "Reset", { id, expected_revision: expectedRevision(a) }, metadata());
        out(a.json ? JSON.stringify(r) : resetLine(id ?? "", r));
        return 0;
      }
      default:
        throw new UsageError(`unknown policy command ${command}`);
    }
  } finally {
    client.close();
  }
}
